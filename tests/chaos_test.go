package tests

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

// `make chaos SEED=n STEPS=n` runs TestChaos long; `make test` runs the
// defaults. Seeds that found bugs (see the chaos notes in README.md's
// reliability section) are listed at chaosDefaultSeed.
var (
	chaosSeed  = flag.Uint64("chaos.seed", chaosDefaultSeed, "seed of the chaos test's generator: a seed replays the same sequence of actions and kill moments")
	chaosSteps = flag.Int("chaos.steps", chaosDefaultSteps, "number of steps the chaos test takes")
	chaosSetup = flag.Bool("chaos.setup", true, "promote the first release before the random steps; false replays the runs before that setup")
)

// The short run in `make test`. Runs that found osflow bugs (the seeds
// are of the current action list: adding an action changes what a seed
// draws):
//   - -chaos.seed=2 -chaos.steps=1 -chaos.setup=false (seed 8 before the
//     config change and vendor watch actions): a bypass while production
//     serves nothing switched testing, recorded the bypass, then retried
//     its dnf check of production (404) for 15 minutes (invariant 4).
//     Fixed (bypass-check-switched); TestChaosRegressions runs it.
//   - seed 1, 15 steps (before those actions), when the kill landed while
//     a suite ran: the round stalled about 6 minutes (RunSuite's 5-minute
//     heartbeat timeout, then a 1-minute retry interval), past the
//     3-minute bound of invariant 4. Fixed (a 30 s heartbeat timeout);
//     timing decided, so its regression test is
//     TestWorkerKilledDuringASuiteResumesPromptly, which kills the worker
//     inside the suite.
//   - seed 1, 300 steps, step 112: a config change on test to a file a
//     failed promotion's revert had touched made the next promotion's
//     merge conflict with the revert (invariant 4: waiting for
//     conflict-resolved). Fixed (integrations/scm: the reverts are undone
//     before the merge); 112 steps are too long for make test, so its
//     regression cases are in TestMergeKeepsTestedChangesThroughReverts.
const (
	chaosDefaultSeed  = 1
	chaosDefaultSteps = 12
)

// The chaos test's namespace is registered with the shared dev server
// like every other e2e test's.
func init() { namespaces = append(namespaces, "e2e-chaos") }

// Bounds the invariants hold the system to.
const (
	// settleBound: after a step (and its kill), every workflow finishes or
	// waits for a person within it. Store activities heartbeat every few
	// seconds, the sync's heartbeat timeout is 30 s: twice the longest
	// heartbeat timeout plus the step's own work.
	settleBound = 3 * time.Minute
	// actionBound is how long one operator action may take.
	actionBound = 5 * time.Minute
	// maxHistoryEvents and maxHistoryBytes bound one run's history;
	// maxEventBytes bounds one event (and so every payload in it).
	maxHistoryEvents = 10_000
	maxHistoryBytes  = 4 << 20
	maxEventBytes    = 512 << 10
)

// chaosConfig is the site the generator drives: an upstream repo, an
// overlay that may be bypassed for openssl*, a suite and an outage task
// that fail while their marker files exist, one clean round to pass the
// gate, and an approver.
func chaosConfig(suiteMarker, outageMarker string, w *world) string {
	smoke := fmt.Sprintf(`status=''; if [ -e %s ]; then status='<failure message="chaos: broken round"/>'; fi; `+
		`printf '<testsuite name="smoke" tests="1"><testcase classname="smoke" name="login">%%s</testcase></testsuite>' "$status" > "$OSFLOW_JUNIT"`, suiteMarker)
	drain := fmt.Sprintf(`if [ "$OSFLOW_CHANNEL" = production ] && [ -e %s ]; then echo "chaos: drain failed" >&2; exit 1; fi; echo draining $OSFLOW_CHANNEL`, outageMarker)
	return `  - name: site
    overlay: true
    bypass:
      allow: ["openssl*"]
` + w.sourcesYAML() + `testing:
  suites:
    - name: smoke
      command: ["sh", "-c", ` + fmt.Sprintf("%q", smoke) + `]
  gate:
    cleanRounds: 1
  roundInterval: 24h
outage:
  tasks:
    - name: drain
      command: ["sh", "-c", ` + fmt.Sprintf("%q", drain) + `]
      expected: 1m
production:
  approvers: [alice]
  remindEvery: 30s
` + w.yaml()
}

// TestChaos drives the real system (dev server, `osflow worker`
// processes, store, channel server, file tracker, real dnf) through a
// seeded random sequence of operator and upstream events, SIGKILLs the
// worker at random moments, and checks the invariants after every step
// (chaos_invariants_test.go). It records every violation, prints the
// table of steps, and fails if there was any.
//
// It runs its own dev server on a SQLite file (chaos_server_test.go), not
// the one the package shares, so that it can kill that one too.
func TestChaos(t *testing.T) { runChaos(t, *chaosSeed, *chaosSteps, *chaosSetup) }

// TestChaosRegressions replays the runs that found osflow bugs since
// fixed (see above).
func TestChaosRegressions(t *testing.T) {
	t.Run("bypass before the first promotion", func(t *testing.T) { runChaos(t, 2, 1, false) })
}

func runChaos(t *testing.T, seed uint64, steps int, setup bool) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	markers := t.TempDir()
	c := &chaos{
		rng:          rng,
		suiteMarker:  filepath.Join(markers, "fail-round"),
		outageMarker: filepath.Join(markers, "fail-outage"),
		served:       map[string][]string{},
		scanned:      map[string]bool{},
		reported:     map[string]bool{},
		w:            newWorld(t),
	}
	// The site talks to a server of the test's own, which it may kill.
	c.server = startChaosServer(t, "e2e-chaos")
	shared := frontend
	frontend = c.server.addr
	c.s = newBareSite(t, "e2e-chaos", map[string][]upstream.Spec{
		"baseos": {spec("hpc-base", "1.0"), spec("openssl", "3.0.1")},
	}, chaosConfig(c.suiteMarker, c.outageMarker, c.w))
	frontend = shared
	_, err := starter.ApplyOverlaySchedules(context.Background(), c.s.client, c.s.cfg)
	require.NoError(t, err, "the overlay's watch schedule")
	c.s.workerProcess()
	start := time.Now()

	// Setup, as a site in service is: the first sync, its release through
	// the gate and a promotion, so that every channel serves something.
	// (Without it, seed 1 found a bypass that production's dnf check
	// retries for 15 minutes when production serves nothing yet.)
	first := c.step(0, actionByName("upstream+sync"), noKill, 0)
	if setup {
		c.setupProduction(first)
	}
	for i := 1; i <= steps; i++ {
		a := c.pick()
		k := noKill
		if rng.IntN(100) < 35 || a.name == "kill" {
			k = workerKill
			if rng.IntN(4) == 0 {
				k = serverKill
			}
		}
		delay := time.Duration(rng.IntN(3000)) * time.Millisecond
		c.step(i, a, k, delay)
	}
	c.printTable(t, seed, time.Since(start))
	c.plantViolation()
	var all []string
	for _, r := range c.rows {
		for _, v := range r.violations {
			all = append(all, fmt.Sprintf("step %d (%s): %s", r.n, r.action, v))
		}
	}
	require.Empty(t, all, "chaos seed %d found violations", seed)
}

// row is one line of the table.
type row struct {
	n           int
	action      string
	outcome     string
	kills       int
	serverKills int
	took        time.Duration
	violations  []string
}

func (c *chaos) printTable(t *testing.T, seed uint64, took time.Duration) {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "step\taction\tworker kills\tserver kills\tviolations\ttook\toutcome")
	violations, steps := 0, 0
	for _, r := range c.rows {
		violations += len(r.violations)
		if r.n > 0 {
			steps++
		}
		fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%d\t%s\t%s\n", r.n, r.action, r.kills, r.serverKills, len(r.violations), r.took.Round(100*time.Millisecond), oneLine(r.outcome, 90))
	}
	_ = w.Flush()
	fmt.Fprintf(&b, "seed %d: %d steps, %d worker kills, %d server kills, %d violations, %s\n", seed, steps, c.kills, c.serverKills, violations, took.Round(time.Second))
	t.Log("\n" + b.String())
	if path := os.Getenv("OSFLOW_CHAOS_TABLE"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// What a step kills.
type victim int

const (
	noKill victim = iota
	workerKill
	serverKill
)

// step runs one action, with a SIGKILL of the worker or the server delay
// after it starts, waits for the system to settle and checks the
// invariants. It returns what testing serves after the step.
func (c *chaos) step(n int, a action, kill victim, delay time.Duration) string {
	t := c.s.t
	started := time.Now()
	run := a.prepare(c)
	ctx, cancel := context.WithTimeout(context.Background(), actionBound)
	defer cancel()
	done := make(chan string, 1)
	go func() {
		out, err := run(ctx)
		if err != nil {
			out = strings.TrimSpace(out + " error: " + err.Error())
		}
		done <- out
	}()
	var outcome string
	ended := false
	if kill != noKill {
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case outcome = <-done:
			// The action ended first; the kill still comes at its moment,
			// while whatever the action set off runs on.
			ended = true
			<-timer.C
		}
		c.kill(kill)
	}
	if !ended {
		select {
		case outcome = <-done:
		case <-time.After(actionBound + time.Minute):
			// The CLI does not take the context: its goroutine is left
			// behind, and the step says so.
			outcome = fmt.Sprintf("did not return within %s", actionBound+time.Minute)
		}
	}
	r := row{n: n, action: a.name, outcome: outcome}
	switch kill {
	case workerKill:
		r.action += " +kill worker@" + delay.Round(100*time.Millisecond).String()
	case serverKill:
		r.action += " +kill server@" + delay.Round(100*time.Millisecond).String()
	}
	// The action's context may have run out: the checks get their own.
	r.violations = c.check(context.Background())
	r.kills, r.serverKills, r.took = c.kills, c.serverKills, time.Since(started)
	c.rows = append(c.rows, r)
	t.Logf("step %d %s: %s; %d violations", n, r.action, oneLine(outcome, 200), len(r.violations))
	for _, v := range r.violations {
		t.Logf("  violation: %s", v)
	}
	return c.s.channel(c.s.cfg.Channels.Testing)
}

// kill SIGKILLs every worker process of the site and starts a new one,
// or SIGKILLs the server and starts it again on its file and port.
func (c *chaos) kill(v victim) {
	if v == serverKill {
		c.server.restart()
		c.serverKills++
		c.lastKill = time.Now()
		return
	}
	for _, w := range c.s.workers {
		if w.ProcessState == nil {
			require.NoError(c.s.t, w.Process.Kill())
			_ = w.Wait()
		}
	}
	c.kills++
	c.lastKill = time.Now()
	c.s.workerProcess()
}

// setupProduction promotes the first release, so that production serves
// something before the random steps.
func (c *chaos) setupProduction(first string) {
	t := c.s.t
	c.s.promotionState(workflows.PromotionWorkflowID(first), func(st workflows.PromotionStatus) bool {
		return st.Phase == workflows.PhaseAwaitingApproval
	}, "the first candidate waits for approval")
	c.step(0, actionByName("promote+approve"), noKill, 0)
	require.NotEmpty(t, c.s.channel(c.s.cfg.Channels.Production), "the setup promotion reached production")
}

// plantViolation switches production by hand, outside the process, and
// requires the checks to say so: they can fail.
func (c *chaos) plantViolation() {
	t := c.s.t
	rels, err := c.s.store.Releases()
	require.NoError(t, err)
	production := c.s.cfg.Channels.Production
	current := c.s.channel(production)
	i := slices.IndexFunc(rels, func(r repo.Release) bool { return r.ID != current })
	require.GreaterOrEqual(t, i, 0, "another release to switch production to")
	// The store carries production's bypasses into the switch: what it
	// serves then is sw.To, a release derived from rels[i].
	sw, err := c.s.store.Switch(context.Background(), repo.SwitchRequest{Channel: production, Release: rels[i].ID, Actor: "root", Reason: "by hand"})
	require.NoError(t, err)
	c.w.plant(t)
	found := strings.Join(c.check(context.Background()), "\n")
	require.Contains(t, found, "inv5 production "+current+" -> "+sw.To+" (manual switch", "a switch by hand is not the process")
	require.Contains(t, found, "inv1 osflow audit production", "and osflow audit production fails")
	require.Contains(t, found, "inv7 puppet: test has \"reverted\" in site.pp", "a revert of a tested change on test")
	require.Contains(t, found, "all carry [osflow:planted-silence]", "two silences of one key")
	require.Contains(t, found, "inv2 notification mailed twice: <planted@chaos.test>", "one mail sent twice")
}
