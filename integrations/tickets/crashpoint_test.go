package tickets

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

var errCrash = errors.New("crash point reached")

// processDeath is what a hook panics with to end an attempt as a worker
// death: nothing after the point runs.
type processDeath struct{}

// keyedRound is a ticket round against tr as activities.ProcessResults
// carries it out on a retry: each action first looks for its key's marker
// (on the open ticket of its fingerprint, or the ticket it acts on) and
// does only what is missing; a close whose comment went in is finished
// with a bare close. It files repoclosure/new, comments on ticket repeat
// and closes ticket fixed.
func keyedRound(ctx context.Context, tr Tracker, repeat, fixed string) error {
	const round = "cycle/round-2"
	fileKey, commentKey, closeKey := round+"/file", round+"/comment", round+"/close"
	t, err := tr.FindOpen(ctx, "repoclosure/new")
	if err != nil {
		return err
	}
	if t == nil {
		body := WithMarker("new failure", fileKey)
		if _, _, err := FileOrComment(ctx, tr, nt("repoclosure/new"), body); err != nil {
			return err
		}
	}
	if done, err := tr.HasMarker(ctx, repeat, commentKey); err != nil {
		return err
	} else if !done {
		if err := tr.Comment(ctx, repeat, WithMarker("fails again", commentKey)); err != nil {
			return err
		}
	}
	done, err := tr.HasMarker(ctx, fixed, closeKey)
	if err != nil {
		return err
	}
	if done {
		return tr.Close(ctx, fixed, "")
	}
	return tr.Close(ctx, fixed, WithMarker("passes now", closeKey))
}

// TestGitHubCrashPoints fails a keyed ticket round on the GitHub tracker
// at each crash point it passes (issue created, comment added, the close's
// comment, issue closed), once as an error and once as a worker death (a
// new tracker retries), and checks that the issues end as after a run
// without failure: one issue filed, one comment per key, the issue closed.
// The file tracker's points are exercised through the real round in
// activities (TestTicketRoundCrashPoints).
func TestGitHubCrashPoints(t *testing.T) {
	ctx := context.Background()
	run := func(t *testing.T, point string, nth int, mode string) ([]fakeIssue, []string) {
		fake := newFakeGitHub(t, "acme", "ops", testToken)
		setup := newTestGitHub(t, fake, "ops")
		repeat, err := setup.Create(ctx, nt("repoclosure/repeat"))
		require.NoError(t, err)
		fixed, err := setup.Create(ctx, nt("repoclosure/fixed"))
		require.NoError(t, err)
		var trace []string
		g := newTestGitHub(t, fake, "ops")
		g.Crash = func(p string) error {
			trace = append(trace, p)
			n := 0
			for _, q := range trace {
				if q == p {
					n++
				}
			}
			if p != point || n != nth {
				return nil
			}
			if mode == "death" {
				panic(processDeath{})
			}
			return errCrash
		}
		err = func() (err error) {
			defer func() {
				if v := recover(); v != nil {
					if _, ok := v.(processDeath); !ok {
						panic(v)
					}
					err = errCrash
				}
			}()
			return keyedRound(ctx, g, repeat.ID, fixed.ID)
		}()
		if point == "" {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, errCrash)
			g.Crash = nil
			if mode == "death" {
				g = newTestGitHub(t, fake, "ops")
			}
			require.NoError(t, keyedRound(ctx, g, repeat.ID, fixed.ID), "the retry")
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		var issues []fakeIssue
		for _, is := range fake.issues {
			issues = append(issues, *is)
		}
		return issues, trace
	}
	want, trace := run(t, "", 0, "")
	require.Equal(t, []string{AtCreate, AtComment, AtComment, AtClose}, trace)
	for i, point := range trace {
		nth := 0
		for _, q := range trace[:i+1] {
			if q == point {
				nth++
			}
		}
		for _, mode := range []string{"error", "death"} {
			t.Run(fmt.Sprintf("%d-%s/%s", i, point, mode), func(t *testing.T) {
				got, _ := run(t, point, nth, mode)
				require.Equal(t, want, got, "one issue, one comment per key, closed")
			})
		}
	}
}
