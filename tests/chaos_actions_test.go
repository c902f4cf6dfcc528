package tests

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/stretchr/testify/require"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

// chaos is the generator's model of the run: what it did, so that the
// invariants know what to expect.
type chaos struct {
	s                         *site
	server                    *chaosServer
	w                         *world
	rng                       *rand.Rand
	suiteMarker, outageMarker string
	// versions count the packages built so far, per name.
	versions map[string]int
	// manualProduction is the release a manual rollback of production
	// put there: the audit may mark exactly that switch WARN.
	manualProduction map[string]bool
	// served is what each channel was seen serving, in order.
	served map[string][]string
	// scanned holds the closed runs whose histories were checked.
	scanned            map[string]bool
	kills, serverKills int
	lastKill           time.Time
	rows               []row
	// mu guards found: violations an action's goroutine saw (a promotion
	// that succeeded without putting the tested commits on production),
	// reported with the step's checks.
	mu    sync.Mutex
	found []string
	// reported holds the duplicate notifications already reported.
	reported map[string]bool
}

// An action prepares in the test goroutine (builds, writes, may fail the
// test on a broken harness) and returns what runs while the worker may
// be killed: it reports, never fails the test.
type action struct {
	name    string
	weight  int
	prepare func(c *chaos) func(ctx context.Context) (string, error)
}

var chaosActions = []action{
	{"upstream+sync", 4, (*chaos).upstreamSync},
	{"overlay add", 2, (*chaos).overlayAdd},
	{"round fail then pass", 2, (*chaos).failingRound},
	{"promote+approve", 3, func(c *chaos) func(context.Context) (string, error) { return c.promoteApprove(false) }},
	{"reject", 1, (*chaos).reject},
	{"failing outage", 1, func(c *chaos) func(context.Context) (string, error) { return c.promoteApprove(true) }},
	{"rollback", 2, (*chaos).rollback},
	{"bypass", 2, (*chaos).bypass},
	{"freeze/unfreeze", 2, (*chaos).freeze},
	{"config change", 2, (*chaos).configChange},
	{"vendor watch", 2, (*chaos).vendorWatch},
	{"kill", 2, func(*chaos) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { return "the worker dies, whatever runs", nil }
	}},
}

func actionByName(name string) action {
	for _, a := range chaosActions {
		if a.name == name {
			return a
		}
	}
	panic("no chaos action " + name)
}

// pick draws the next action, weighted.
func (c *chaos) pick() action {
	total := 0
	for _, a := range chaosActions {
		total += a.weight
	}
	n := c.rng.IntN(total)
	for _, a := range chaosActions {
		if n < a.weight {
			return a
		}
		n -= a.weight
	}
	panic("unreachable")
}

// next returns the next version of a package this run builds.
func (c *chaos) next(name string) int {
	if c.versions == nil {
		c.versions = map[string]int{}
	}
	c.versions[name]++
	return c.versions[name]
}

// rpm builds one package into a scratch directory and returns its file.
func (c *chaos) rpm(name, version string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	files, err := upstream.BuildSpecs(ctx, []upstream.Spec{spec(name, version)}, c.s.t.TempDir())
	require.NoError(c.s.t, err)
	return pick(c.s.t, files, name+"-"+version)
}

func (c *chaos) upstreamSync() func(context.Context) (string, error) {
	v := fmt.Sprintf("1.%d", c.next("hpc-base"))
	c.s.publish("baseos", spec("hpc-base", v))
	return func(ctx context.Context) (string, error) {
		run, err := starter.StartSync(ctx, c.s.client, c.s.cfg, "chaos", "hpc-base "+v)
		if err != nil {
			return "", err
		}
		st, err := starter.WaitSync(ctx, c.s.client, run, func(activities.SyncProgress) {})
		return fmt.Sprintf("hpc-base %s: %s %s", v, st.Phase, st.Release), err
	}
}

func (c *chaos) overlayAdd() func(context.Context) (string, error) {
	v := fmt.Sprintf("1.%d", c.next("site-tool"))
	file := c.rpm("site-tool", v)
	return func(context.Context) (string, error) {
		out, err := c.s.osflow("overlay", "add", "site", file)
		return "site-tool " + v + ": " + out, err
	}
}

// failingRound syncs a new upstream release with the suite failing, so
// that testing's round fails (unless testing is held), then asks with
// `osflow test now` for a round with the suite passing.
func (c *chaos) failingRound() func(context.Context) (string, error) {
	require.NoError(c.s.t, os.WriteFile(c.suiteMarker, nil, 0o644))
	sync := c.upstreamSync()
	return func(ctx context.Context) (string, error) {
		defer os.Remove(c.suiteMarker)
		var outcome []string
		say := func(format string, args ...any) string {
			outcome = append(outcome, fmt.Sprintf(format, args...))
			return strings.Join(outcome, "; ")
		}
		before, err := starter.CycleStatus(ctx, c.s.client)
		if err != nil {
			return "", err
		}
		out, err := sync(ctx)
		if err != nil {
			return say("%s", out), err
		}
		say("failing: %s", out)
		if testing, err := c.s.store.Channel(c.s.cfg.Channels.Testing); err != nil || testing == before.Current {
			return say("testing held at %s", before.Current), err
		}
		st, err := c.roundAfter(ctx, before.RoundsRun)
		if err != nil {
			return say("round: %v", err), err
		}
		say("round %d: streak %d, %d open tickets", st.RoundsRun, st.CleanStreak, st.OpenTickets)
		if err := os.Remove(c.suiteMarker); err != nil {
			return say("remove the marker"), err
		}
		if out, err := c.s.osflow("test", "now"); err != nil {
			return say("test now: %s", out), err
		}
		st, err = c.roundAfter(ctx, st.RoundsRun)
		if err != nil {
			return say("round: %v", err), err
		}
		return say("passing round %d: streak %d, %d open tickets", st.RoundsRun, st.CleanStreak, st.OpenTickets), nil
	}
}

// roundAfter waits for the test cycle to finish a round after the
// rounds-th.
func (c *chaos) roundAfter(ctx context.Context, rounds int) (workflows.TestCycleState, error) {
	var st workflows.TestCycleState
	err := poll(ctx, settleBound, func() (bool, error) {
		var err error
		st, err = starter.CycleStatus(ctx, c.s.client)
		return err == nil && st.RoundsRun > rounds && st.InRound == nil, nil
	})
	return st, err
}

// promoteApprove approves the promotion waiting for approval, or starts
// one of what testing serves (refused unless it is a candidate), and
// follows it until it ends or waits for a person. With failing, the
// outage task fails on production, and the failed outage is ended.
func (c *chaos) promoteApprove(failing bool) func(context.Context) (string, error) {
	if failing {
		require.NoError(c.s.t, os.WriteFile(c.outageMarker, nil, 0o644))
	}
	// When testing moved on before the window, an approver decides.
	decide := []string{"proceed", "", "--as", "alice"}
	if c.rng.IntN(2) == 0 {
		decide = append(decide, "--cancel")
	}
	tested := c.testedNow()
	return func(ctx context.Context) (string, error) {
		defer os.Remove(c.outageMarker)
		tips, err := c.testTips()
		if err != nil {
			return "", err
		}
		id, err := c.waitingPromotion(ctx)
		if err != nil {
			return "", err
		}
		var outcome []string
		if id == "" {
			out, err := c.s.osflow("promote")
			if err != nil {
				return "promote: " + out, err
			}
			testing, err := c.s.store.Channel(c.s.cfg.Channels.Testing)
			if err != nil {
				return "", err
			}
			id = workflows.PromotionWorkflowID(testing)
			outcome = append(outcome, "promoted "+testing)
			if err := poll(ctx, settleBound, func() (bool, error) {
				st, err := c.promotion(ctx, id)
				return err == nil && st.Phase == workflows.PhaseAwaitingApproval, nil
			}); err != nil {
				return strings.Join(outcome, "; "), fmt.Errorf("%s never waited for approval: %w", id, err)
			}
		}
		out, err := c.s.osflow("approve", id, "--as", "alice", "--window-start", "now", "--comment", "chaos")
		if err != nil {
			return strings.Join(append(outcome, "approve: "+out), "; "), err
		}
		outcome = append(outcome, "approved "+id)
		var st workflows.PromotionStatus
		ended := func() error {
			return poll(ctx, settleBound, func() (bool, error) {
				var err error
				st, err = c.promotion(ctx, id)
				return err == nil && (st.State == workflows.ApprovalDone || st.State == workflows.ApprovalRolledBack ||
					st.State == workflows.ApprovalCanceled || st.State == workflows.ApprovalRejected ||
					st.Phase == workflows.PhaseAwaitingDecision), nil
			})
		}
		err = ended()
		if err == nil && st.Phase == workflows.PhaseAwaitingDecision {
			decide[1] = id
			out, err := c.s.osflow(decide...)
			if err != nil {
				return strings.Join(append(outcome, "testing moved; proceed: "+out), "; "), err
			}
			outcome = append(outcome, "testing moved; "+strings.Join(decide, " "))
			err = ended()
		}
		outcome = append(outcome, fmt.Sprintf("%s %s: %s", st.State, st.Phase, st.Error))
		if err != nil {
			return strings.Join(outcome, "; "), fmt.Errorf("%s did not end its outage: %w", id, err)
		}
		if st.State == workflows.ApprovalDone {
			c.report(c.checkPromoted(id, tips, tested)...)
		}
		if st.State == workflows.ApprovalRolledBack {
			if err := poll(ctx, settleBound, func() (bool, error) {
				st, err := c.promotion(ctx, id)
				return err == nil && strings.Contains(st.WaitingFor, "end-outage"), nil
			}); err != nil {
				return strings.Join(outcome, "; "), fmt.Errorf("%s never waited for end-outage: %w", id, err)
			}
			out, err := c.s.osflow("end-outage", id, "--as", "alice")
			if err != nil {
				return strings.Join(append(outcome, "end-outage: "+out), "; "), err
			}
			outcome = append(outcome, "outage ended")
		}
		return strings.Join(outcome, "; "), nil
	}
}

func (c *chaos) reject() func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		id, err := c.waitingPromotion(ctx)
		if err != nil || id == "" {
			return "no promotion waits for approval", err
		}
		out, err := c.s.osflow("reject", id, "--as", "alice", "--comment", "chaos says no")
		return id + ": " + out, err
	}
}

// rollback rolls back testing, daily or (rarely) production by hand.
func (c *chaos) rollback() func(context.Context) (string, error) {
	channels := []string{c.s.cfg.Channels.Testing, c.s.cfg.Channels.Testing, c.s.cfg.Channels.Daily, c.s.cfg.Channels.Production}
	ch := channels[c.rng.IntN(len(channels))]
	return func(ctx context.Context) (string, error) {
		sw, err := starter.Rollback(ctx, c.s.client, c.s.cfg, activities.RollbackInput{Channel: ch, Actor: "cli/chaos", Reason: "chaos rollback"})
		if err == nil && ch == c.s.cfg.Channels.Production && sw.Changed {
			if c.manualProduction == nil {
				c.manualProduction = map[string]bool{}
			}
			c.manualProduction[sw.Key] = true
		}
		return fmt.Sprintf("%s: %s -> %s (changed %v)", ch, sw.From, sw.To, sw.Changed), err
	}
}

func (c *chaos) bypass() func(context.Context) (string, error) {
	v := fmt.Sprintf("3.1.%d", c.next("openssl"))
	file := c.rpm("openssl", v)
	return func(context.Context) (string, error) {
		out, err := c.s.osflow("bypass", "site", file, "--reason", "chaos CVE "+v, "--as", "carol", "--wait")
		return "openssl " + v + ": " + out, err
	}
}

func (c *chaos) freeze() func(context.Context) (string, error) {
	args := []string{"freeze", "--reason", "chaos holds testing"}
	if c.rng.IntN(2) == 0 {
		args = []string{"unfreeze"}
	}
	return func(context.Context) (string, error) {
		out, err := c.s.osflow(args...)
		return args[0] + ": " + out, err
	}
}

// waitingPromotion is the running promotion that waits for approval, if any.
func (c *chaos) waitingPromotion(ctx context.Context) (string, error) {
	open, err := c.open(ctx)
	if err != nil {
		return "", err
	}
	for _, e := range open {
		if e.GetType().GetName() != "Promotion" {
			continue
		}
		st, err := c.promotion(ctx, e.GetExecution().GetWorkflowId())
		if err == nil && st.Phase == workflows.PhaseAwaitingApproval {
			return e.GetExecution().GetWorkflowId(), nil
		}
	}
	return "", nil
}

func (c *chaos) promotion(ctx context.Context, id string) (workflows.PromotionStatus, error) {
	var st workflows.PromotionStatus
	q, err := c.s.client.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err == nil {
		err = q.Get(&st)
	}
	return st, err
}

// open lists the namespace's running workflows.
func (c *chaos) open(ctx context.Context) ([]*workflowpb.WorkflowExecutionInfo, error) {
	return c.list(ctx, "ExecutionStatus = 'Running'")
}

func (c *chaos) list(ctx context.Context, query string) ([]*workflowpb.WorkflowExecutionInfo, error) {
	var out []*workflowpb.WorkflowExecutionInfo
	var token []byte
	for {
		resp, err := c.s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: c.s.cfg.Temporal.Namespace, Query: query, NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list workflows %q: %w", query, err)
		}
		out = append(out, resp.GetExecutions()...)
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}

// errTimeout is poll's error when cond never held.
var errTimeout = errors.New("timed out")

// poll checks cond every 100 ms until it holds, it fails, ctx ends or d
// passes: the chaos test records what did not happen instead of failing.
func poll(ctx context.Context, d time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w after %s", errTimeout, d)
		case <-tick.C:
		}
	}
}
