package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/ci"
)

// TestActivities run integration-test suites and outage tasks against the
// test cluster's channel.
type TestActivities struct {
	Config *config.Config
	// ResultsDir keeps every suite run's full results on the worker, which
	// a bounded result points at. Empty keeps none.
	ResultsDir string
	// TasksDir holds the outage tasks' runs (see RunTask).
	TasksDir string
}

// maxFailingCases bounds the failing cases a bounded suite result carries
// into workflow history; the rest are counted, and the full list is kept
// on the worker.
const maxFailingCases = 100

// RunSuite runs one configured suite against a channel. Test failures are
// results, not errors; an error means the suite could not run.
func (a *TestActivities) RunSuite(ctx context.Context, in RunSuiteInput) (SuiteResult, error) {
	sc, ok := a.suiteConfig(in.Suite)
	if !ok {
		return SuiteResult{}, invalid(fmt.Sprintf("suite %q is not in the worker's configuration %s", in.Suite, a.Config.Path))
	}
	var beat suiteBeat
	suite, err := a.suite(ctx, sc, &beat)
	if err != nil {
		return SuiteResult{}, err
	}
	// Every few seconds, whatever the suite does: the suite's heartbeat
	// timeout is short so that a retry follows a dead worker promptly.
	stop := heartbeatEvery(ctx, suiteHeartbeat, beat.details)
	defer stop()
	target := ci.Target{
		Channel: in.Channel,
		Release: in.Release,
		BaseURL: strings.TrimSuffix(a.Config.HTTP.BaseURL, "/") + "/" + in.Channel + "/",
	}
	for _, r := range a.Config.Repos {
		target.Repos = append(target.Repos, r.Name)
	}
	if err := expandTrees(ctx, &target, a.Config.Repos); err != nil {
		return SuiteResult{}, err
	}
	redact := redactor(a.Config)
	res, err := suite.Run(ctx, target)
	if err != nil {
		if errors.Is(err, ci.ErrConfig) {
			return SuiteResult{}, invalid(redact(fmt.Sprintf("suite %s: %v", in.Suite, err)))
		}
		return SuiteResult{}, errors.New(redact(fmt.Sprintf("suite %s on %s: %v", in.Suite, in.Release, err)))
	}
	all := make([]CaseResult, 0, len(res.Cases))
	for _, c := range res.Cases {
		all = append(all, CaseResult{Suite: in.Suite, Name: c.Name, Status: string(c.Status), Message: truncate(redact(c.Message), 4000)})
	}
	out := SuiteResult{Suite: in.Suite, URL: res.URL}
	if !in.Bounded && !in.ByRef {
		out.Cases = all // a caller from before bounded results
		return out, nil
	}
	if p, err := a.keepResults(in, all); err != nil {
		activity.GetLogger(ctx).Warn("could not keep the full suite results", "suite", in.Suite, "error", err)
	} else if out.URL == "" {
		out.URL = p
	}
	out = boundResult(out, all, in.Watch)
	if in.ByRef {
		ref, err := a.keepBounded(ctx, in, out.Cases)
		if err != nil {
			return SuiteResult{}, err
		}
		out.Cases, out.Ref = nil, ref
	}
	return out, nil
}

// boundResult keeps what the test cycle needs: the counts, the failing
// cases up to maxFailingCases, and the passing cases whose tickets are
// open (watch), so those can close.
func boundResult(out SuiteResult, all []CaseResult, watch []string) SuiteResult {
	for _, c := range all {
		switch {
		case c.Failed():
			out.Failed++
			if out.Failed > maxFailingCases {
				out.Omitted++
				continue
			}
		case c.Status == "passed":
			out.Passed++
			if !slices.Contains(watch, c.Fingerprint()) {
				continue
			}
		default:
			continue
		}
		out.Cases = append(out.Cases, c)
	}
	if out.Omitted > 0 {
		out.Cases = append(out.Cases, CaseResult{Suite: out.Suite, Name: "(more failures)", Status: "failed",
			Message: fmt.Sprintf("%d more cases failed; the full list is at %s", out.Omitted, out.URL)})
	}
	return out
}

// keepResults writes a run's every case to ResultsDir and returns its path.
func (a *TestActivities) keepResults(in RunSuiteInput, all []CaseResult) (string, error) {
	if a.ResultsDir == "" {
		return "", nil
	}
	dir := filepath.Join(a.ResultsDir, in.Release)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, fmt.Sprintf("%s-%s.json", in.Suite, time.Now().UTC().Format("20060102T150405Z")))
	return p, os.WriteFile(p, b, 0o644)
}

func (a *TestActivities) suiteConfig(name string) (config.Suite, bool) {
	for _, s := range a.Config.Testing.Suites {
		if s.Name == name {
			return s, true
		}
	}
	return config.Suite{}, false
}

// suite builds the ci.Suite a configured suite names. A Jenkins suite
// resumes the build recorded in the last heartbeat, so a retried activity
// polls the same build instead of triggering a second one.
func (a *TestActivities) suite(ctx context.Context, sc config.Suite, beat *suiteBeat) (ci.Suite, error) {
	timeout := sc.Timeout.Duration
	switch {
	case sc.Builtin == "repoclosure":
		return &ci.Repoclosure{SuiteName: sc.Name, Timeout: timeout}, nil
	case sc.Builtin == "install":
		return &ci.Install{SuiteName: sc.Name, Sets: sc.Sets, Timeout: timeout}, nil
	case len(sc.Command) > 0:
		return &ci.Command{SuiteName: sc.Name, Argv: sc.Command, Dir: sc.Dir, Timeout: timeout}, nil
	case sc.Jenkins != nil:
		j := sc.Jenkins
		var resume *ci.JenkinsProgress
		if activity.HasHeartbeatDetails(ctx) {
			var p ci.JenkinsProgress
			if err := activity.GetHeartbeatDetails(ctx, &p); err == nil {
				resume = &p
				beat.save(p)
			}
		}
		return &ci.Jenkins{
			SuiteName: sc.Name, BaseURL: j.URL, Job: j.Job, User: j.User, Params: j.Params,
			Token:        func() (string, error) { return secret(j.TokenEnv, j.TokenFile) },
			HTTP:         httpClient(),
			PollInterval: 15 * time.Second,
			Resume:       resume,
			Save:         func(p ci.JenkinsProgress) { beat.save(p); activity.RecordHeartbeat(ctx, p) },
		}, nil
	default:
		return nil, invalid(fmt.Sprintf("suite %s has no builtin, command or jenkins", sc.Name))
	}
}

// suiteHeartbeat is how often RunSuite heartbeats: well within the
// suite's heartbeat timeout (suiteActivityCtx in workflows).
const suiteHeartbeat = 5 * time.Second

// suiteBeat holds what a suite's heartbeats carry: a Jenkins build's
// progress, so that the periodic heartbeat never overwrites what a retry
// resumes from; nothing for the other suites.
type suiteBeat struct {
	mu       sync.Mutex
	progress *ci.JenkinsProgress
}

func (b *suiteBeat) save(p ci.JenkinsProgress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.progress = &p
}

func (b *suiteBeat) details() any {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.progress == nil {
		return nil
	}
	return *b.progress
}

// heartbeatEvery keeps a long call alive for the heartbeat timeout,
// re-sending details() (when given) so a retry resumes from the latest.
func heartbeatEvery(ctx context.Context, every time.Duration, details func() any) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				var d any
				if details != nil {
					d = details()
				}
				if d != nil {
					activity.RecordHeartbeat(ctx, d)
				} else {
					activity.RecordHeartbeat(ctx)
				}
			}
		}
	}()
	return func() { close(done) }
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "\n[truncated]"
}
