package starter

import (
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/osflow/osflow/metrics"
	"github.com/osflow/osflow/worker"
)

func (a *app) workerCommand() *cobra.Command {
	var noRepo, noMain bool
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker against an existing Temporal cluster",
		Long: `Serves the main task queue (workflows, activities that run anywhere) and the
repo task queue (activities that need the store). Use --no-repo on hosts
without the store and --no-main on a store host that should only serve repos.
Address, namespace, TLS and API key come from the configuration or the
TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_* and TEMPORAL_API_KEY environment.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			ws, err := worker.New(c, cfg, worker.Options{Main: !noMain, Repo: !noRepo}, logger)
			if err != nil {
				return UsageError{err}
			}
			logger.Sugar().Infow("worker started", "address", cfg.Temporal.Address, "namespace", cfg.Temporal.Namespace,
				"taskQueue", cfg.Temporal.TaskQueue, "repoTaskQueue", cfg.Temporal.RepoTaskQueue)
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return serveMetrics(gctx) })
			g.Go(func() error { return ws.Run(gctx) })
			return g.Wait()
		},
	}
	cmd.Flags().BoolVar(&noRepo, "no-repo", false, "do not serve the repo task queue (no store on this host)")
	cmd.Flags().BoolVar(&noMain, "no-main", false, "do not serve the main task queue")
	return cmd
}
