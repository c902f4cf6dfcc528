// Package worker builds osflow's Temporal workers: one on the main task
// queue for workflows and activities that run anywhere, and one on the repo
// task queue for activities that need the store.
package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/backup"
	"github.com/osflow/osflow/integrations/monitoring"
	"github.com/osflow/osflow/integrations/notify"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/tickets"
	"github.com/osflow/osflow/workflows"
)

// Register adds every workflow to w. Tests and the replayer use it too, so
// that names never drift between them.
func Register(w sdkworker.WorkflowRegistry) {
	w.RegisterWorkflow(workflows.DailySync)
	w.RegisterWorkflowWithOptions(workflows.TestCycle, workflow.RegisterOptions{Name: workflows.TestCycleWorkflowType})
	w.RegisterWorkflow(workflows.ChannelRollback)
	w.RegisterWorkflow(workflows.Promotion)
	w.RegisterWorkflow(workflows.MergeBack)
	w.RegisterWorkflowWithOptions(workflows.Bypass, workflow.RegisterOptions{Name: workflows.BypassWorkflowType})
	w.RegisterWorkflow(workflows.OverlayWatch)
}

// Options says which queues this process serves.
type Options struct {
	// Repo makes this process serve the repo task queue; it needs the store.
	Repo bool
	// Main makes this process serve the main task queue.
	Main bool
	// CacheDir holds git clones of the config, monitoring and wiki repos
	// (default: the user's cache directory).
	CacheDir string
	// StopTimeout is how long a stopping worker lets running activities
	// finish before cancelling them; a cancelled activity is retried on
	// another worker and resumes from its heartbeat.
	StopTimeout time.Duration
	// Workflows registers the workflows of the main queue (default
	// Register). An upgrade rehearsal passes one that swaps in the next
	// build's version of a workflow under the same name.
	Workflows func(sdkworker.WorkflowRegistry)
}

// Workers are the started-or-not workers of one process.
type Workers struct {
	workers []sdkworker.Worker
}

// New builds the workers for cfg. The store is opened only when the repo
// queue is served.
func New(c client.Client, cfg *config.Config, opts Options, logger *zap.Logger) (*Workers, error) {
	if !opts.Repo && !opts.Main {
		return nil, errors.New("worker serves no task queue: enable the main queue, the repo queue, or both")
	}
	ws := &Workers{}
	if opts.Main {
		w := sdkworker.New(c, cfg.Temporal.TaskQueue, sdkworker.Options{
			Identity:          Identity(cfg.Temporal.TaskQueue),
			WorkerStopTimeout: opts.StopTimeout,
		})
		register := opts.Workflows
		if register == nil {
			register = Register
		}
		register(w)
		w.RegisterActivity(&activities.ConfigActivities{Config: cfg})
		w.RegisterActivity(&activities.CycleActivities{Client: c, TaskQueue: cfg.Temporal.TaskQueue})
		tracker, err := activities.NewTracker(cfg)
		if err != nil {
			return nil, fmt.Errorf("ticket tracker: %w", err)
		}
		cache := opts.CacheDir
		if cache == "" {
			if cache, err = os.UserCacheDir(); err != nil {
				return nil, fmt.Errorf("no cache directory for git clones: %w", err)
			}
			cache = filepath.Join(cache, "osflow")
		}
		w.RegisterActivity(&activities.TestActivities{Config: cfg, ResultsDir: filepath.Join(cache, "results"), TasksDir: filepath.Join(cache, "tasks")})
		w.RegisterActivity(&activities.TicketActivities{Tracker: tracker, Config: cfg})
		w.RegisterActivity(&activities.CandidateActivities{Config: cfg, Tracker: tracker, CacheDir: filepath.Join(cache, "git")})
		pa, err := promotionActivities(cfg, tracker, filepath.Join(cache, "git"), logger)
		if err != nil {
			return nil, err
		}
		w.RegisterActivity(pa)
		ws.workers = append(ws.workers, w)
	}
	if opts.Repo {
		st, err := repo.Open(cfg.Store)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", cfg.Store, err)
		}
		st.LinkLimit = cfg.Sync.LinkLimit
		w := sdkworker.New(c, cfg.Temporal.RepoTaskQueue, sdkworker.Options{
			Identity:          Identity(cfg.Temporal.RepoTaskQueue),
			WorkerStopTimeout: opts.StopTimeout,
			// Each sync downloads in parallel already; a few at a time keep the link busy.
			MaxConcurrentActivityExecutionSize: 4,
		})
		repoActs := &activities.RepoActivities{Store: st, Mirror: activities.NewMirror(st, cfg, logger), Config: cfg}
		sourceActs := activities.NewSourceActivities(st, cfg, logger)
		w.RegisterActivityWithOptions(repoActs, activity.RegisterOptions{})
		w.RegisterActivity(sourceActs)
		// The control queue's own slots: a switch, freeze or bypass never
		// waits behind the downloads above. Both queues take every store
		// activity, as runs from before the control queue schedule their
		// switches on the repo queue.
		control := workflows.ControlQueue(cfg.Temporal.RepoTaskQueue)
		cw := sdkworker.New(c, control, sdkworker.Options{
			Identity:                           Identity(control),
			WorkerStopTimeout:                  opts.StopTimeout,
			MaxConcurrentActivityExecutionSize: 8,
		})
		cw.RegisterActivityWithOptions(repoActs, activity.RegisterOptions{})
		cw.RegisterActivity(sourceActs)
		ws.workers = append(ws.workers, w, cw)
	}
	return ws, nil
}

// Run starts every worker and blocks until ctx is done, then stops them.
func (ws *Workers) Run(ctx context.Context) error {
	for i, w := range ws.workers {
		if err := w.Start(); err != nil {
			for _, started := range ws.workers[:i] {
				started.Stop()
			}
			return fmt.Errorf("start worker: %w", err)
		}
	}
	<-ctx.Done()
	for _, w := range ws.workers {
		w.Stop()
	}
	return nil
}

// promotionActivities builds the production phase's integrations from the
// configuration.
func promotionActivities(cfg *config.Config, tracker tickets.Tracker, cacheDir string, logger *zap.Logger) (*activities.PromotionActivities, error) {
	// The journal sits beside the git clones so that a restarted worker
	// does not resend what a channel already took.
	n, err := notify.NewJournaled(cfg.Notify, filepath.Join(filepath.Dir(cacheDir), "notify.journal"), logger)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	s, err := monitoring.New(cfg.Monitoring, logger)
	if err != nil {
		return nil, fmt.Errorf("monitoring: %w", err)
	}
	users, err := activities.NewUserTracker(cfg)
	if err != nil {
		return nil, fmt.Errorf("production user tickets: %w", err)
	}
	return &activities.PromotionActivities{
		Config: cfg, Tracker: tracker, Users: users, Notifier: n, Silencer: s,
		Backup: backup.New(cfg.Backup, logger), CacheDir: cacheDir,
	}, nil
}

// Identity names a worker in workflow histories and in the Web UI's
// pollers: the SDK's pid@host, then the task queue it serves, so that a
// history shows which worker (and so which host) ran each activity.
func Identity(taskQueue string) string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return fmt.Sprintf("%d@%s@%s", os.Getpid(), host, taskQueue)
}
