package activities

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/scm"
	"github.com/osflow/osflow/integrations/scm/scmtest"
	"github.com/osflow/osflow/integrations/tickets"
)

// errCrash is what a crash hook fails an attempt with.
var errCrash = errors.New("crash point reached")

// crashMode is how the first attempt stops at a crash point.
type crashMode string

const (
	// crashError: the step after the point fails; the worker lives, and
	// Temporal hands the retry the last heartbeat (it travels with the
	// failure).
	crashError crashMode = "error"
	// crashDeath: the worker dies at the point; nothing after it runs, no
	// deferred cleanup, and the retry sees only the first heartbeat (sent
	// at once; later ones are throttled and die with the worker).
	crashDeath crashMode = "death"
)

// processDeath is what the hook panics with in crashDeath mode.
type processDeath struct{ point string }

// hookAt returns a crash hook that records each point passed in trace and
// stops at the nth pass of point (none if point is ""), calling dead first
// in crashDeath mode.
func hookAt(trace *[]string, point string, nth int, mode crashMode, dead func()) func(string) error {
	return func(p string) error {
		*trace = append(*trace, p)
		if p != point || count(*trace, p) != nth {
			return nil
		}
		if mode == crashDeath {
			dead()
			panic(processDeath{p})
		}
		return errCrash
	}
}

func count(trace []string, p string) int {
	n := 0
	for _, q := range trace {
		if q == p {
			n++
		}
	}
	return n
}

// runAttempt runs fn once as an activity; it returns the result or error and
// the heartbeats the attempt recorded.
func runAttempt(t *testing.T, acts any, details *json.RawMessage, fn any, args ...any) (converter.EncodedValue, error, []json.RawMessage) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	var beats []json.RawMessage
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, d converter.EncodedValues) {
		var raw json.RawMessage
		if d.HasValues() && d.Get(&raw) == nil {
			beats = append(beats, raw)
		}
	})
	if details != nil {
		env.SetHeartbeatDetails(*details)
	}
	v, err := env.ExecuteActivity(fn, args...)
	return v, err, beats
}

// TestTicketRoundCrashPoints fails the first attempt of a ticket round
// (one ticket filed, one commented on, one closed) at each crash point its
// tracker passes, once as an error and once as a worker death, and retries
// it with the same input and key. The tracker must end as after a run
// without failure (each ticket once, each comment once), and the retry
// return the same summary.
func TestTicketRoundCrashPoints(t *testing.T) {
	closeOnPass := true
	cfg := &config.Config{Testing: config.Testing{CloseOnPass: &closeOnPass, Gate: config.Gate{BlockerLabel: "blocker"}}}
	in := ProcessResultsInput{Release: "r2", Channel: "testing", Key: "test-cycle/run/round-2/tickets", Results: []SuiteResult{{
		Suite: "repoclosure", Cases: []CaseResult{
			{Suite: "repoclosure", Name: "baseos", Status: "failed", Message: "nothing provides libfoo"},
			{Suite: "repoclosure", Name: "appstream", Status: "failed", Message: "still broken"},
			{Suite: "repoclosure", Name: "epel", Status: "passed"},
		},
	}}}
	// run prepares a tracker with an open ticket for appstream (to comment
	// on) and one for epel (to close), runs the round failing at the nth
	// pass of point, retries it if it failed, and returns the summary, the
	// tracker's files and the points passed.
	run := func(t *testing.T, point string, nth int, mode crashMode) (TicketSummary, map[string]string, []string) {
		dir := t.TempDir()
		tracker := &tickets.FileTracker{Dir: dir}
		for _, fp := range []string{"repoclosure/appstream", "repoclosure/epel"} {
			_, err := tracker.Create(t.Context(), tickets.NewTicket{Fingerprint: fp, Title: fp + " fails", Body: "x"})
			require.NoError(t, err)
		}
		var trace []string
		dead := filepath.Join(t.TempDir(), "dead")
		tracker.Crash = hookAt(&trace, point, nth, mode, func() {
			out, err := exec.Command("cp", "-a", dir, dead).CombinedOutput()
			require.NoError(t, err, "%s", out)
		})
		a := &TicketActivities{Tracker: tracker, Config: cfg}
		v, err, beats := runAttempt(t, a, nil, a.ProcessResults, in)
		if point == "" {
			require.NoError(t, err)
			return decode[TicketSummary](t, v), ticketFiles(t, dir), trace
		}
		require.Error(t, err, "the first attempt stops at %s", point)
		require.NotEmpty(t, beats, "the plan is journaled before any action")
		details := beats[len(beats)-1]
		if mode == crashDeath {
			details = beats[0]
			dir = dead
		}
		retry := &TicketActivities{Tracker: &tickets.FileTracker{Dir: dir}, Config: cfg, assumeRetry: true}
		v, err, _ = runAttempt(t, retry, &details, retry.ProcessResults, in)
		require.NoError(t, err, "the retry")
		return decode[TicketSummary](t, v), ticketFiles(t, dir), trace
	}
	want, wantFiles, trace := run(t, "", 0, "")
	require.Len(t, want.New, 1)
	require.Len(t, want.Commented, 1)
	require.Len(t, want.Closed, 1)
	require.Equal(t, []string{tickets.AtCreate, tickets.AtComment, tickets.AtClose}, sortedPoints(trace),
		"the round passes every point of the tracker")
	for i, point := range trace {
		for _, mode := range []crashMode{crashError, crashDeath} {
			t.Run(fmt.Sprintf("%d-%s/%s", i, point, mode), func(t *testing.T) {
				got, gotFiles, _ := run(t, point, count(trace[:i+1], point), mode)
				require.Equal(t, want, got, "the retry reports what the round did")
				require.Equal(t, wantFiles, gotFiles, "each ticket and comment once")
			})
		}
	}
}

// sortedPoints is the distinct points of trace in their order of first
// pass, ordered as crashpoint.go lists them.
func sortedPoints(trace []string) []string {
	var out []string
	for _, p := range []string{tickets.AtCreate, tickets.AtComment, tickets.AtClose} {
		if count(trace, p) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// gitCrashCase is one operation on real git remotes: setup makes its
// starting state (the remotes fresh each run), op runs the activity.
type gitCrashCase struct {
	setup func(t *testing.T, a *PromotionActivities, remote *scmtest.Remote) any
	op    func(a *PromotionActivities, remote *scmtest.Remote, prep any) (fn any, arg any)
}

// TestGitCrashPoints fails the first attempt of each git operation of a
// promotion (merge with a reapplied revert, revert, merge-back) and of a
// wiki publish right after its push, once as an error and once as a
// worker death, and retries it with the same input and key. The remotes
// must end as after a run without failure (one merge, one revert, one
// page commit), and the retry return what the first attempt would have.
func TestGitCrashPoints(t *testing.T) {
	promote := func(t *testing.T, a *PromotionActivities, key string) MergeRecord {
		rec, err := a.Merge(t.Context(), MergeInput{Repo: "puppet", From: "test", Into: "production", Message: "osflow: promote " + key, Key: key})
		require.NoError(t, err)
		return rec
	}
	// promotedAndReverted is the state after a failed outage: the
	// promotion merged, then reverted on production.
	promotedAndReverted := func(t *testing.T, a *PromotionActivities, _ *scmtest.Remote) any {
		first := promote(t, a, "promotion-r1/1/merge")
		_, err := a.Revert(t.Context(), RevertInput{Repo: "puppet", Branch: "production", Commit: first.Commit, Message: "osflow: revert the promotion of r1 (task failed)"})
		require.NoError(t, err)
		return first
	}
	cases := map[string]gitCrashCase{
		"merge reapplying a revert": {promotedAndReverted, func(a *PromotionActivities, _ *scmtest.Remote, _ any) (any, any) {
			return a.Merge, MergeInput{Repo: "puppet", From: "test", Into: "production", Message: "osflow: promote r1", Key: "promotion-r1/2/merge"}
		}},
		"revert": {func(t *testing.T, a *PromotionActivities, _ *scmtest.Remote) any {
			return promote(t, a, "promotion-r1/1/merge")
		}, func(a *PromotionActivities, _ *scmtest.Remote, prep any) (any, any) {
			return a.Revert, RevertInput{Repo: "puppet", Branch: "production", Commit: prep.(MergeRecord).Commit, Message: "osflow: revert the promotion of r1 (task failed)"}
		}},
		"merge-back": {func(t *testing.T, a *PromotionActivities, remote *scmtest.Remote) any {
			promotedAndReverted(t, a, remote)
			remote.Commit("production", "hotfix", map[string]string{"hotfix.pp": "class hotfix {}\n"})
			return nil
		}, func(a *PromotionActivities, _ *scmtest.Remote, _ any) (any, any) {
			return a.Merge, MergeInput{Repo: "puppet", From: "production", Into: "test", Message: "osflow: merge production hotfixes back", Key: "mergeback-r1/1/merge"}
		}},
		"wiki publish": {func(t *testing.T, a *PromotionActivities, _ *scmtest.Remote) any {
			wiki := scmtest.NewRemote(t)
			wiki.Commit("master", "home", map[string]string{"Home.md": "# Home\n"})
			a.Config.Wiki = config.Wiki{URL: wiki.URL(), Branch: "master", PageURL: "https://wiki.example.org/"}
			return wiki
		}, func(a *PromotionActivities, _ *scmtest.Remote, _ any) (any, any) {
			return a.PublishOutcome, OutcomeInput{Release: "r1", Promotion: "promotion-r1", Page: "# Outage of r1\n\nDone.\n", Key: "promotion-r1/outcome"}
		}},
	}
	// run makes the remotes, runs the case failing at its nth push (none
	// if nth is 0), retries, and returns the result and the remotes'
	// branches, hashes replaced by what they name.
	run := func(t *testing.T, tc gitCrashCase, nth int, mode crashMode) (any, map[string]string, []string) {
		remote, cfg := puppetRemote(t)
		a := &PromotionActivities{Config: cfg, CacheDir: t.TempDir()}
		prep := tc.setup(t, a, remote)
		remotes := []*scmtest.Remote{remote}
		if w, ok := prep.(*scmtest.Remote); ok {
			remotes = append(remotes, w)
		}
		var trace []string
		point := ""
		if nth > 0 {
			point = scm.AtPush
		}
		a.gitCrash = hookAt(&trace, point, nth, mode, func() {})
		fn, arg := tc.op(a, remote, prep)
		v, err, _ := runAttempt(t, a, nil, fn, arg)
		if nth > 0 {
			require.Error(t, err, "the first attempt stops after its push")
			a.gitCrash = nil
			v, err, _ = runAttempt(t, a, nil, fn, arg)
			require.NoError(t, err, "the retry")
		}
		require.NoError(t, err)
		var res any
		require.NoError(t, v.Get(&res))
		return gitNamed(t, remotes, res), gitBranches(t, remotes), trace
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			want, wantBranches, trace := run(t, tc, 0, "")
			require.NotEmpty(t, trace, "the operation pushes")
			for i := range trace {
				for _, mode := range []crashMode{crashError, crashDeath} {
					t.Run(fmt.Sprintf("%d-%s/%s", i, trace[i], mode), func(t *testing.T) {
						got, gotBranches, _ := run(t, tc, i+1, mode)
						require.Equal(t, want, got, "the retry reports what the first attempt did")
						require.Equal(t, wantBranches, gotBranches, "one commit per push")
					})
				}
			}
		})
	}
}

var hashRE = regexp.MustCompile(`\b[0-9a-f]{10}(?:[0-9a-f]{30})?\b`)

// gitNamed is v as JSON with every commit hash replaced by the subject
// and tree of the commit it names: comparable across runs, whose commits
// differ by their times.
func gitNamed(t *testing.T, remotes []*scmtest.Remote, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return hashRE.ReplaceAllStringFunc(string(b), func(h string) string {
		for _, r := range remotes {
			if out, err := scmtest.Run(r.Bare, nil, "log", "-n", "1", "--format=%s %T", h); err == nil {
				return "<" + strings.TrimSpace(out) + ">"
			}
		}
		return "<unknown commit " + h + ">"
	})
}

// gitBranches lists each remote branch's commits, newest first, by
// subject and tree: a second merge or revert shows as a line more.
func gitBranches(t *testing.T, remotes []*scmtest.Remote) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i, r := range remotes {
		for _, ref := range strings.Fields(scmtest.Git(t, r.Bare, "for-each-ref", "--format=%(refname:short)", "refs/heads")) {
			var lines []string
			for l := range strings.Lines(scmtest.Git(t, r.Bare, "log", "--topo-order", "--format=%s%x1f%T%x1f%P", ref)) {
				f := strings.Split(strings.TrimSuffix(l, "\n"), "\x1f")
				lines = append(lines, fmt.Sprintf("%s %s (%d parents)", f[0], f[1], len(strings.Fields(f[2]))))
			}
			out[fmt.Sprint(i, "/", ref)] = strings.Join(lines, "\n")
		}
	}
	return out
}
