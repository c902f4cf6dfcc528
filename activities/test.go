package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/ci"
)

// TestActivities run integration-test suites and outage tasks against the
// test cluster's channel.
type TestActivities struct {
	Config *config.Config
}

// RunSuite runs one configured suite against a channel. Test failures are
// results, not errors; an error means the suite could not run.
func (a *TestActivities) RunSuite(ctx context.Context, in RunSuiteInput) (SuiteResult, error) {
	sc, ok := a.suiteConfig(in.Suite)
	if !ok {
		return SuiteResult{}, invalid(fmt.Sprintf("suite %q is not in the worker's configuration %s", in.Suite, a.Config.Path))
	}
	suite, err := a.suite(ctx, sc)
	if err != nil {
		return SuiteResult{}, err
	}
	target := ci.Target{
		Channel: in.Channel,
		Release: in.Release,
		BaseURL: strings.TrimSuffix(a.Config.HTTP.BaseURL, "/") + "/" + in.Channel + "/",
	}
	for _, r := range a.Config.Repos {
		target.Repos = append(target.Repos, r.Name)
	}
	if sc.Jenkins == nil {
		// A Jenkins suite heartbeats its build progress itself; an empty
		// heartbeat would overwrite what a retry resumes from.
		stop := heartbeatEvery(ctx, 30*time.Second, nil)
		defer stop()
	}
	res, err := suite.Run(ctx, target)
	if err != nil {
		if errors.Is(err, ci.ErrConfig) {
			return SuiteResult{}, invalid(fmt.Sprintf("suite %s: %v", in.Suite, err))
		}
		return SuiteResult{}, fmt.Errorf("suite %s on %s: %w", in.Suite, in.Release, err)
	}
	out := SuiteResult{Suite: in.Suite, URL: res.URL}
	for _, c := range res.Cases {
		out.Cases = append(out.Cases, CaseResult{Suite: in.Suite, Name: c.Name, Status: string(c.Status), Message: truncate(c.Message, 4000)})
	}
	return out, nil
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
func (a *TestActivities) suite(ctx context.Context, sc config.Suite) (ci.Suite, error) {
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
			}
		}
		return &ci.Jenkins{
			SuiteName: sc.Name, BaseURL: j.URL, Job: j.Job, User: j.User, Params: j.Params,
			Token:        func() (string, error) { return secret(j.TokenEnv, j.TokenFile) },
			HTTP:         httpClient(),
			PollInterval: 15 * time.Second,
			Resume:       resume,
			Save:         func(p ci.JenkinsProgress) { activity.RecordHeartbeat(ctx, p) },
		}, nil
	default:
		return nil, invalid(fmt.Sprintf("suite %s has no builtin, command or jenkins", sc.Name))
	}
}

// RunTask runs one outage task's command on this worker and measures it.
func (a *TestActivities) RunTask(ctx context.Context, in RunTaskInput) (TaskResult, error) {
	var task *config.Task
	for i := range a.Config.Outage.Tasks {
		if a.Config.Outage.Tasks[i].Name == in.Task {
			task = &a.Config.Outage.Tasks[i]
		}
	}
	if task == nil || len(task.Command) == 0 {
		return TaskResult{}, invalid(fmt.Sprintf("outage task %q has no command in %s", in.Task, a.Config.Path))
	}
	tctx, cancel := context.WithTimeout(ctx, task.Timeout.Duration)
	defer cancel()
	stop := heartbeatEvery(ctx, 30*time.Second, nil)
	defer stop()
	cmd := exec.CommandContext(tctx, task.Command[0], task.Command[1:]...)
	cmd.Env = append(os.Environ(), "OSFLOW_RELEASE="+in.Release, "OSFLOW_TASK="+in.Task)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	res := TaskResult{Task: in.Task, Duration: time.Since(start), Output: tail(out.String(), 4000)}
	if err != nil {
		return res, fmt.Errorf("outage task %s (%s) failed after %s: %w\n%s", in.Task, strings.Join(task.Command, " "), res.Duration.Round(time.Millisecond), err, res.Output)
	}
	return res, nil
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
				if details != nil {
					activity.RecordHeartbeat(ctx, details())
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

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[...]\n" + s[len(s)-n:]
}
