package main

// The user's path: `osflow sync --wait` against `osflow worker` on a
// Temporal dev server (bin/temporal), timed from the CLI's start to its
// exit, with the workflow history telling where the time went.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

// temporalFig is one `osflow sync --wait` through Temporal.
type temporalFig struct {
	runFig            // of the CLI process
	Phase     string  `json:"phase"`
	ServerCPU Seconds `json:"serverCpuSeconds"` // the dev server's CPU during the sync
	WorkerCPU Seconds `json:"workerCpuSeconds"` // the worker's`
	// Stages is where the wall time went, from the CLI's start to its exit.
	Stages []stageTime `json:"stages"`
}

// temporalSite is a dev server, a worker process and the configuration
// both read.
type temporalSite struct {
	server  *exec.Cmd
	client  client.Client
	config  string
	worker  *exec.Cmd
	current string // symlink the configured repo URL serves, to v1 or v2
	dir     string
}

func (b *bench) measureTemporal(ctx context.Context) error {
	ts, err := b.startTemporalSite(ctx)
	if err != nil {
		return err
	}
	defer func() {
		rss, err := ts.stop()
		if err != nil {
			progress("stopping the Temporal site: %v", err)
		}
		b.fig.TemporalWorkerRSSMiB = rss
	}()
	cliStart, err := b.cliStartup(ctx)
	if err != nil {
		return err
	}
	b.fig.TemporalCLIStart = Seconds(cliStart)
	progress("osflow CLI start (sync --help): %.3fs", cliStart.Seconds())

	for _, step := range []struct {
		name, upstream, phase string
		rounds                int
		fig                   *temporalFig
	}{
		{"full", "v1", workflows.PhaseDone, 1, &b.fig.TemporalSync},
		{"no-op", "v1", workflows.PhaseNoChange, noopRounds, &b.fig.TemporalNoop},
		{"update", "v2", workflows.PhaseDone, 1, &b.fig.TemporalUpdate},
	} {
		if err := ts.point(step.upstream); err != nil {
			return err
		}
		var figs []temporalFig
		for range step.rounds {
			settle()
			progress("osflow sync --wait through Temporal, %s ...", step.name)
			fig, err := b.temporalSync(ctx, ts, cliStart)
			if err != nil {
				return fmt.Errorf("%s sync: %w", step.name, err)
			}
			if fig.Phase != step.phase {
				return fmt.Errorf("%s sync ended in phase %s, want %s", step.name, fig.Phase, step.phase)
			}
			progress("osflow sync --wait, %s: %.3fs; %s", step.name, fig.Seconds.S(), stagesString(fig.Stages))
			figs = append(figs, fig)
		}
		slices.SortFunc(figs, func(a, b temporalFig) int { return cmp.Compare(a.Seconds, b.Seconds) })
		*step.fig = figs[len(figs)/2]
	}
	return nil
}

// noopRounds no-op syncs are timed and the median kept: each takes a
// fraction of a second, which one busy moment on a shared machine can double.
const noopRounds = 5

func (b *bench) startTemporalSite(ctx context.Context) (*temporalSite, error) {
	ts := &temporalSite{dir: filepath.Join(b.run, "temporal"), current: filepath.Join(b.base.Dir, "..", "current")}
	if err := os.MkdirAll(ts.dir, 0o755); err != nil {
		return nil, err
	}
	address, err := ts.startServer(ctx, b.cfg.TemporalCLI, b.cfg.TemporalArgs)
	if err != nil {
		return ts, err
	}
	if err := ts.point("v1"); err != nil {
		return ts, err
	}
	ts.config = filepath.Join(ts.dir, "osflow.yaml")
	yaml := fmt.Sprintf(`store: %[1]s/store
temporal:
  address: %[2]s
  namespace: default
log:
  format: console
  level: warn
tickets:
  dir: %[1]s/tickets
sync:
  concurrency: %[3]d
repos:
  - name: %[4]s
    url: %[5]s/current/
`, ts.dir, address, mirrorWorkers, benchRepo, strings.TrimSuffix(b.url1, "/v1/"))
	if err := os.WriteFile(ts.config, []byte(yaml), 0o644); err != nil {
		return ts, err
	}
	return ts, ts.startWorker(ctx, b.cfg.Osflow)
}

// startWorker starts `osflow worker` on the site's configuration and
// waits until it polls.
func (ts *temporalSite) startWorker(ctx context.Context, osflow string) error {
	ts.worker = exec.Command(osflow, "--config", ts.config, "worker")
	ts.worker.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	wlog, err := os.Create(filepath.Join(ts.dir, "worker.log"))
	if err != nil {
		return err
	}
	ts.worker.Stdout, ts.worker.Stderr = wlog, wlog
	if err := ts.worker.Start(); err != nil {
		return fmt.Errorf("start osflow worker: %w", err)
	}
	return ts.waitForPollers(ctx)
}

// startServer starts `temporal server start-dev` in memory on a free
// port, with osflow's search attributes and extra arguments, and returns
// its address once it answers.
func (ts *temporalSite) startServer(ctx context.Context, cli string, extra []string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	address := fmt.Sprintf("127.0.0.1:%d", port)
	args := append([]string{"server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(port), "--headless",
		"--log-level", "error"}, starter.DevServerArgs()...)
	progress("starting %s %s ...", cli, strings.Join(append(args[:2:2], extra...), " "))
	log, err := os.Create(filepath.Join(ts.dir, "temporal.log"))
	if err != nil {
		return "", err
	}
	ts.server = exec.Command(cli, append(args, extra...)...)
	ts.server.Stdout, ts.server.Stderr = log, log
	ts.server.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := ts.server.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", cli, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ts.client, err = client.DialContext(dctx, client.Options{HostPort: address, Namespace: "default"})
		cancel()
		if err == nil {
			return address, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("Temporal dev server not ready at %s after a minute: %w (log: %s)", address, err, log.Name())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitForPollers waits until the worker polls both of osflow's task queues,
// so that its start-up is not counted in the first sync.
func (ts *temporalSite) waitForPollers(ctx context.Context) error {
	c := ts.client
	deadline := time.Now().Add(time.Minute)
	for _, queue := range []string{"osflow", "osflow-repo"} {
		for {
			resp, err := c.DescribeTaskQueue(ctx, queue, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
			if err == nil && len(resp.GetPollers()) > 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the osflow worker polls no %s task queue after a minute (log: %s)", queue,
					filepath.Join(ts.dir, "worker.log"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// point makes the configured upstream URL serve upstream v1 or v2.
func (ts *temporalSite) point(version string) error {
	tmp := ts.current + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(version, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, ts.current)
}

// stop ends the worker and the dev server and returns the worker's peak RSS.
func (ts *temporalSite) stop() (float64, error) {
	var rss float64
	var errs []error
	if ts.worker != nil && ts.worker.Process != nil {
		errs = append(errs, ts.worker.Process.Signal(syscall.SIGTERM))
		err := ts.worker.Wait()
		if !errors.As(err, new(*exec.ExitError)) {
			errs = append(errs, err)
		}
		if ru, ok := ts.worker.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = float64(ru.Maxrss) / 1024
		}
	}
	if ts.client != nil {
		ts.client.Close()
	}
	if ts.server != nil && ts.server.Process != nil {
		errs = append(errs, ts.server.Process.Signal(syscall.SIGTERM))
		if err := ts.server.Wait(); !errors.As(err, new(*exec.ExitError)) {
			errs = append(errs, err)
		}
	}
	return rss, errors.Join(errs...)
}

// cliStartup is the wall time of the osflow CLI doing nothing but start:
// the part of each sync's wall time before it reads its configuration.
func (b *bench) cliStartup(ctx context.Context) (time.Duration, error) {
	best := time.Hour
	for range 5 {
		m, err := runMeasured(ctx, filepath.Join(b.run, "temporal", "cli-help.log"), nil, b.cfg.Osflow, "sync", "--help")
		if err != nil {
			return 0, err
		}
		best = min(best, m.Wall)
	}
	return best, nil
}

// temporalSync runs `osflow sync --wait --json` and reads the history of
// the DailySync run it waited for.
func (b *bench) temporalSync(ctx context.Context, ts *temporalSite, cliStart time.Duration) (temporalFig, error) {
	server0, worker0 := processCPU(ts.server.Process.Pid), processCPU(ts.worker.Process.Pid)
	start := time.Now()
	m, err := runMeasured(ctx, filepath.Join(ts.dir, "sync.log"), nil, b.cfg.Osflow, "--config", ts.config, "--json", "sync", "--wait")
	exit := start.Add(m.Wall)
	if err != nil {
		return temporalFig{}, err
	}
	fig := temporalFig{runFig: newRunFig(m, 0),
		ServerCPU: Seconds(processCPU(ts.server.Process.Pid) - server0),
		WorkerCPU: Seconds(processCPU(ts.worker.Process.Pid) - worker0)}
	if fig.Phase, err = donePhase(m.Stdout); err != nil {
		return fig, err
	}
	events, err := history(ctx, ts.client, starter.ManualSyncWorkflowID)
	if err != nil {
		return fig, err
	}
	fig.Stages = historyStages(events, start, exit, cliStart)
	return fig, nil
}

// processCPU is the user and system time a running process has used,
// from /proc (0 if it cannot be read).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are
	// the 14th and 15th of the line, in clock ticks of 1/100 s on Linux.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// donePhase reads DailySync's final phase from the CLI's last JSON line.
func donePhase(stdout []byte) (string, error) {
	var last []byte
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			last = line
		}
	}
	var done struct {
		Event string                    `json:"event"`
		Data  workflows.DailySyncStatus `json:"data"`
	}
	if err := json.Unmarshal(last, &done); err != nil || done.Event != "done" {
		return "", fmt.Errorf("osflow sync --json: no final done event in %q", last)
	}
	return done.Data.Phase, nil
}

func history(ctx context.Context, c client.Client, workflowID string) ([]*historypb.HistoryEvent, error) {
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", workflowID, err)
		}
		events = append(events, e)
	}
	return events, nil
}

// historyStages splits the CLI's wall time (start to exit) by the events of
// the run: the CLI until the workflow started, each workflow task and each
// activity (its wait in the task queue, then its run), and from the
// workflow's completion to the CLI's exit. Stages of the same name add up.
func historyStages(events []*historypb.HistoryEvent, start, exit time.Time, cliStart time.Duration) []stageTime {
	var stages []stageTime
	add := func(name string, d time.Duration) {
		for i := range stages {
			if stages[i].Stage == name {
				stages[i].Seconds += d.Seconds()
				return
			}
		}
		stages = append(stages, stageTime{name, d.Seconds()})
	}
	at := func(e *historypb.HistoryEvent) time.Time { return e.GetEventTime().AsTime() }
	byID := map[int64]*historypb.HistoryEvent{}
	activity := map[int64]string{} // scheduled event ID → activity type
	last := start
	for _, e := range events {
		byID[e.GetEventId()] = e
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			add("CLI start", cliStart)
			add("CLI config, dial, start workflow", at(e).Sub(start)-cliStart)
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			add("workflow task queue", at(e).Sub(last))
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			add("workflow task run", at(e).Sub(last))
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			activity[e.GetEventId()] = e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			id := e.GetActivityTaskStartedEventAttributes().GetScheduledEventId()
			add("activity queue", at(e).Sub(at(byID[id])))
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			a := e.GetActivityTaskCompletedEventAttributes()
			add(activity[a.GetScheduledEventId()], at(e).Sub(at(byID[a.GetStartedEventId()])))
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			add("workflow completed to CLI exit", exit.Sub(at(e)))
		}
		if t := at(e); t.After(last) {
			last = t
		}
	}
	return stages
}
