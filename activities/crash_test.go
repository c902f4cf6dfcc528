package activities

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/osflow/osflow/config"
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
