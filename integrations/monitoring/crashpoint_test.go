package monitoring

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/monitoring/amtest"
	"github.com/osflow/osflow/integrations/monitoring/nagiostest"
)

var errCrash = errors.New("crash point reached")

// processDeath is what a hook panics with to end an attempt as a worker
// death: nothing after the point runs.
type processDeath struct{}

// silenceCrashCase is a silencer on a running monitoring system: make
// builds the silencer as a (new) worker does, with hook; state lists what
// the system holds for a key, comparable across keys.
type silenceCrashCase struct {
	make  func(hook crashHook) Silencer
	state func(t *testing.T, key string) []string
}

// TestSilenceCrashPoints fails the first attempt of a silence and of its
// end, on a real Alertmanager and a real Nagios, at each crash point it
// passes, once as an error (the same silencer retries) and once as a
// worker death (a new one retries), and checks that the system ends as
// after a run without failure: one silence per target, and none left
// active after the end. Each run uses its own key on the same system.
func TestSilenceCrashPoints(t *testing.T) {
	am := amtest.Start(t, "")
	nag := nagiostest.Start(t)
	systems := map[string]silenceCrashCase{
		"alertmanager": {
			make: func(hook crashHook) Silencer {
				a, err := NewAlertmanager(config.Alertmanager{URL: am, Matchers: mustMatchers(t, `cluster="production"`)})
				require.NoError(t, err)
				a.crash = hook
				return a
			},
			state: func(t *testing.T, key string) []string {
				var out []string
				for _, s := range amtest.Silences(t, am) {
					if strings.HasSuffix(s.Comment, marker(key)) {
						out = append(out, fmt.Sprint(s.Matchers, " ", s.Status.State))
					}
				}
				slices.Sort(out)
				return out
			},
		},
		"nagios": {
			make: func(hook crashHook) Silencer {
				n := silencer(nag, "compute", "login")
				n.crash = hook
				return n
			},
			state: func(t *testing.T, key string) []string {
				st, err := readStatus(nag.StatusFile)
				require.NoError(t, err)
				var out []string
				for _, d := range st.of(key, "") {
					out = append(out, fmt.Sprint(d.Host, " service=", d.Service, " ", strings.TrimSuffix(d.Comment, marker(key))))
				}
				slices.Sort(out)
				return out
			},
		},
	}
	ctx := context.Background()
	start := time.Now().Truncate(time.Second)
	w := Window{Start: start, End: start.Add(3 * time.Hour)}
	type step struct {
		name string
		run  func(s Silencer, key string) error
	}
	silence := func(s Silencer, key string) error { _, err := s.Silence(ctx, key, w, "outage of r1"); return err }
	expire := func(s Silencer, key string) error { _, err := s.Expire(ctx, key); return err }
	// Each case runs its steps in order; the one it names "op" is failed.
	ops := map[string][]step{
		"silence":        {{"op", silence}},
		"end of silence": {{"setup", silence}, {"op", expire}},
	}
	n := 0
	newKey := func() string { n++; return fmt.Sprint("crash-", n, "/silence") }
	for sysName, sys := range systems {
		for opName, steps := range ops {
			t.Run(sysName+"/"+opName, func(t *testing.T) {
				// run runs the steps, failing the op at the nth pass of
				// point (none if ""), retries it, and returns the state.
				run := func(point string, nth int, mode string) ([]string, []string, []string) {
					key := newKey()
					var trace []string
					hook := func(p string) error {
						trace = append(trace, p)
						if p != point || countIn(trace, p) != nth {
							return nil
						}
						if mode == "death" {
							panic(processDeath{})
						}
						return errCrash
					}
					var ids []string
					for _, st := range steps {
						if st.name != "op" {
							require.NoError(t, st.run(sys.make(nil), key))
							continue
						}
						first := sys.make(hook)
						err := runDying(func() error { return st.run(first, key) })
						if point == "" {
							require.NoError(t, err)
							break
						}
						require.ErrorIs(t, err, errCrash)
						retry := first
						if mode == "death" {
							retry = sys.make(nil)
						} else {
							hook = nil
						}
						trace = append(trace, "retry")
						require.NoError(t, st.run(retry, key), "the retry")
					}
					if opName == "silence" {
						var err error
						ids, err = sys.make(nil).Silence(ctx, key, w, "outage of r1")
						require.NoError(t, err)
					}
					return sys.state(t, key), ids, trace
				}
				want, wantIDs, trace := run("", 0, "")
				require.NotEmpty(t, trace)
				if opName == "silence" {
					require.NotEmpty(t, want)
				}
				for i, point := range trace {
					for _, mode := range []string{"error", "death"} {
						t.Run(fmt.Sprintf("%d-%s/%s", i, point, mode), func(t *testing.T) {
							got, gotIDs, _ := run(point, countIn(trace[:i+1], point), mode)
							require.Equal(t, want, got, "one silence per target")
							require.Len(t, gotIDs, len(wantIDs), "the retry returns every silence of the key once")
						})
					}
				}
			})
		}
	}
}

// runDying runs fn, turning a processDeath panic into errCrash.
func runDying(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(processDeath); !ok {
				panic(r)
			}
			err = errCrash
		}
	}()
	return fn()
}

func countIn(trace []string, p string) int {
	n := 0
	for _, q := range trace {
		if q == p {
			n++
		}
	}
	return n
}
