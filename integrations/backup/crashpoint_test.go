package backup

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// processDeath is what a hook panics with to end an attempt as a worker
// death: nothing after the point runs.
type processDeath struct{}

var errCrash = errors.New("crash point reached")

// testBaculaCrashPoints fails the first Run right after the Director
// queued its job, once as an error (the same runner retries) and once as
// a worker death (a new runner retries), on the real daemons: the retry
// must wait for that job and return it as a run without failure does
// (ended "T", two files), and the catalog hold one job of the key.
func testBaculaCrashPoints(t *testing.T, r baculaRun) {
	ctx := context.Background()
	for _, mode := range []string{"error", "death"} {
		t.Run(atStarted+"/"+mode, func(t *testing.T) {
			key := "crash-" + mode + "/backup"
			var trace []string
			first := r.runner(t, "ok", nil)
			first.crash = func(p string) error {
				trace = append(trace, p)
				if mode == "death" {
					panic(processDeath{})
				}
				return errCrash
			}
			err := func() (err error) {
				defer func() {
					if v := recover(); v != nil {
						if _, ok := v.(processDeath); !ok {
							panic(v)
						}
						err = errCrash
					}
				}()
				_, err = first.Run(ctx, key, nil)
				return err
			}()
			require.ErrorIs(t, err, errCrash)
			require.Equal(t, []string{atStarted}, trace)
			retry := first
			if mode == "death" {
				retry = r.runner(t, "ok", nil)
			}
			retry.crash = nil
			job, err := retry.Run(ctx, key, nil)
			require.NoError(t, err, "the retry")
			require.Equal(t, "T", job.Status)
			require.Equal(t, int64(2), job.Files)
			jobs, err := parseLlist(r.bconsoleOut(t, "llist job=ok"))
			require.NoError(t, err)
			var mine []int
			for _, j := range jobs {
				if j.Comment == comment(key) {
					mine = append(mine, j.ID)
				}
			}
			require.Equal(t, []int{job.ID}, mine, "one backup job per key, the one the first attempt started")
		})
	}
}
