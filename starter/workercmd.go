package starter

import (
	"errors"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/osflow/osflow/metrics"
	"github.com/osflow/osflow/worker"
)

func (a *app) workerCommand() *cobra.Command {
	var (
		role           string
		noRepo, noMain bool
		stopTimeout    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker against an existing Temporal cluster",
		Long: `Serves osflow's task queues for the cluster and namespace of the configuration.

Roles (--role):
  all   both queues (default): a site with one osflow host
  repo  only the repo task queues (temporal.repoTaskQueue for downloads,
        and its -control queue for switches, freezes and bypasses, with
        slots of their own): activities that read or write the store. Run
        it on the host that mounts the store.
  main  only the main task queue (temporal.taskQueue): workflows and the
        activities that run anywhere (tests, tickets, git, wiki). Never
        touches the store, so it runs on any host, as many as you like.

--no-repo is --role main and --no-main is --role repo (older spellings).
A repo activity waits, visible in 'osflow status', until a repo worker polls.

Address, namespace, TLS and API key come from the configuration or the
TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_* and TEMPORAL_API_KEY environment.
On SIGTERM the worker stops polling and gives running activities
--stop-timeout to finish; the rest are retried on another worker.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := workerRole(role, cmd.Flags().Changed("role"), noRepo, noMain)
			if err != nil {
				return UsageError{err}
			}
			cfg, logger, err := a.setup()
			if err != nil {
				return err
			}
			defer func() { _ = logger.Sync() }()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			mh, serveMetrics, err := metrics.New(cfg.Metrics.Listen, logger)
			if err != nil {
				return fmt.Errorf("metrics: %w", err)
			}
			c, err := Dial(ctx, cfg, logger, mh)
			if err != nil {
				return err
			}
			defer c.Close()
			opts := r.Options()
			opts.StopTimeout = stopTimeout
			ws, err := worker.New(c, cfg, opts, logger)
			if err != nil {
				return UsageError{err}
			}
			logger.Sugar().Infow("worker started", "role", r, "address", cfg.Temporal.Address, "namespace", cfg.Temporal.Namespace,
				"taskQueue", cfg.Temporal.TaskQueue, "repoTaskQueue", cfg.Temporal.RepoTaskQueue)
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return serveMetrics(gctx) })
			g.Go(func() error { return ws.Run(gctx) })
			return g.Wait()
		},
	}
	cmd.Flags().StringVar(&role, "role", string(worker.RoleAll), "which task queues to serve: all, repo (needs the store) or main")
	cmd.Flags().BoolVar(&noRepo, "no-repo", false, "same as --role main (no store on this host)")
	cmd.Flags().BoolVar(&noMain, "no-main", false, "same as --role repo")
	cmd.Flags().DurationVar(&stopTimeout, "stop-timeout", 30*time.Second, "on SIGTERM, how long running activities may finish")
	return cmd
}

// workerRole resolves --role and its older spellings --no-repo/--no-main;
// a combination that contradicts itself is refused rather than guessed.
func workerRole(role string, roleSet, noRepo, noMain bool) (worker.Role, error) {
	r, err := worker.ParseRole(role)
	if err != nil {
		return "", fmt.Errorf("--role: %w", err)
	}
	switch {
	case noRepo && noMain:
		return "", errors.New("--no-repo and --no-main together leave no task queue to serve")
	case !noRepo && !noMain:
		return r, nil
	}
	alias := worker.RoleMain
	if noMain {
		alias = worker.RoleRepo
	}
	if roleSet && r != alias {
		return "", fmt.Errorf("--role %s contradicts --no-repo/--no-main (which mean --role %s)", r, alias)
	}
	return alias, nil
}
