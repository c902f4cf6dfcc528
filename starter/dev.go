package starter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/deploy/examples"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/logging"
	"github.com/osflow/osflow/metrics"
	"github.com/osflow/osflow/worker"
)

func (a *app) devCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "dev",
		Short: "Run everything on this machine: Temporal dev server and Web UI, worker, repo server, schedule",
		Long: `Starts, all in one process tree:
  - temporal server start-dev (SQLite state in the dev state dir, Web UI, osflow's search attributes);
  - a small local upstream built from the spec files in deploy/examples/upstream (first start only);
  - the worker (main and repo task queues), the channel HTTP server and /metrics;
  - the osflow-daily-sync schedule, and a first DailySync if testing serves nothing yet.
Ctrl-C stops all of it; a second start resumes with the same state.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return a.runDev(ctx, cfg)
		},
	}
}

func (a *app) runDev(ctx context.Context, cfg *config.Config) error {
	logger, err := a.logger(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	log := logger.Sugar()

	state := cfg.Dev.StateDir
	if err := os.MkdirAll(state, 0o755); err != nil {
		return fmt.Errorf("create dev state dir: %w", err)
	}
	// The dev server listens where temporal.address says, so every other
	// osflow command with the same configuration reaches it.
	grpcPort, err := devPort(cfg.Temporal.Address)
	if err != nil {
		return UsageError{fmt.Errorf("%s: temporal.address: %w", cfg.Path, err)}
	}
	grpcAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(grpcPort))
	for _, addr := range []string{grpcAddr, cfg.HTTP.Listen, cfg.Dev.UpstreamListen} {
		if err := portFree(addr); err != nil {
			return UsageError{err}
		}
	}

	log.Infow("building the local upstream (first start only)", "dir", filepath.Join(state, "upstream"))
	if err := buildDevUpstream(ctx, cfg, filepath.Join(state, "upstream")); err != nil {
		return fmt.Errorf("build dev upstream: %w", err)
	}

	if err := seedDevGit(ctx, cfg); err != nil {
		return err
	}

	temporalLog := filepath.Join(state, "temporal.log")
	srv, err := startDevServer(cfg.Dev.TemporalCLI,
		devServerArgs(filepath.Join(state, "temporal.db"), cfg.Temporal.Namespace, grpcPort, cfg.Dev.UIPort), temporalLog)
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.stop(15 * time.Second); err != nil {
			log.Warnw("stopping the Temporal dev server", "error", err)
		}
	}()

	mh, serveMetrics, err := metrics.New(cfg.Metrics.Listen, logger)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	c, err := srv.waitReady(ctx, client.Options{
		HostPort: grpcAddr, Namespace: cfg.Temporal.Namespace,
		Logger: logging.Temporal(logger), MetricsHandler: mh,
	}, temporalLog)
	if err != nil {
		return err
	}
	defer c.Close()

	store, err := repo.Open(cfg.Store)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	ws, err := worker.New(c, cfg, worker.Options{Main: true, Repo: true, CacheDir: filepath.Join(state, "cache")}, logger)
	if err != nil {
		return err
	}
	if _, err := ApplySchedule(ctx, c, cfg); err != nil {
		return err
	}
	if _, err := ApplyOverlaySchedules(ctx, c, cfg); err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveMetrics(gctx) })
	g.Go(func() error { return ws.Run(gctx) })
	g.Go(func() error { return serveHTTP(gctx, cfg.HTTP.Listen, repo.Handler(store)) })
	g.Go(func() error {
		return serveHTTP(gctx, cfg.Dev.UpstreamListen, http.FileServer(http.Dir(filepath.Join(state, "upstream"))))
	})
	a.printDevBanner(cfg)
	g.Go(func() error { return firstSync(gctx, c, cfg, store, logger) })
	err = g.Wait()
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		log.Info("stopping")
		return nil
	}
	return err
}

// buildDevUpstream builds the dev upstream from the spec files on disk if
// the configuration names them, else from the copy embedded in the binary.
func buildDevUpstream(ctx context.Context, cfg *config.Config, out string) error {
	var fsys fs.FS = examples.Upstream
	root := "upstream"
	if cfg.Dev.UpstreamSpecs != "" {
		if _, err := os.Stat(cfg.Dev.UpstreamSpecs); err == nil {
			fsys, root = os.DirFS(cfg.Dev.UpstreamSpecs), "."
		}
	}
	return upstream.BuildFS(ctx, fsys, root, out)
}

// firstSync starts a DailySync when testing serves nothing yet, so a fresh
// `make run` ends with a testing channel dnf can install from.
func firstSync(ctx context.Context, c client.Client, cfg *config.Config, store *repo.Store, logger *zap.Logger) error {
	log := logger.Sugar()
	rel, err := store.Channel(cfg.Channels.Testing)
	if err != nil {
		return err
	}
	if rel != "" {
		log.Infow("testing channel serves a release; next sync by schedule or `osflow sync`", "release", rel)
		return nil
	}
	run, err := StartSync(ctx, c, cfg, "osflow-dev", "first sync of osflow dev")
	if err != nil {
		return err
	}
	log.Infow("first DailySync started", "workflowId", run.GetID())
	st, err := WaitSync(ctx, c, run, func(p activities.SyncProgress) {
		log.Infow("sync progress", "repo", p.Repo, "stage", p.Stage, "files", p.FilesDone, "of", p.FilesTotal)
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		// The dev environment stays up so the operator can look at the failure in the UI.
		log.Errorw("first DailySync failed", "error", err)
		return nil
	}
	log.Infow("first DailySync done; testing is ready", "release", st.Release,
		"try", tryRepoFile(cfg), "onANode", nodeRepoFile(cfg))
	return nil
}

func serveHTTP(ctx context.Context, addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server on %s: %w", addr, err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

func (a *app) printDevBanner(cfg *config.Config) {
	base := cfg.HTTP.BaseURL
	fmt.Fprintf(a.stderr, `
osflow dev is running (Ctrl-C stops everything)
  Temporal Web UI   http://127.0.0.1:%d  (Schedules -> %s)
  Temporal gRPC     %s  namespace %s
  channels          %s<channel>/<repo>/   e.g. %s%s/%s/repodata/repomd.xml
  local upstream    http://%s/
  metrics           %s
  state             %s
next (in a second terminal, from here):
  ./bin/osflow status
  %s
  (on a real node: %s)

`, cfg.Dev.UIPort, "osflow-daily-sync", cfg.Temporal.Address, cfg.Temporal.Namespace,
		base, base, cfg.Channels.Testing, cfg.Repos[0].Name, cfg.Dev.UpstreamListen,
		metricsURL(cfg.Metrics.Listen), cfg.Dev.StateDir, tryRepoFile(cfg), nodeRepoFile(cfg))
}

// tryRepoFile is the command that writes a .repo file for testing into the
// dev state directory, as the README's quick start does: the dev machine's
// own /etc/yum.repos.d is no place for a trial channel.
func tryRepoFile(cfg *config.Config) string {
	dir := filepath.Join(cfg.Dev.StateDir, "try", cfg.Channels.Testing)
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, dir); err == nil && !strings.HasPrefix(rel, "..") {
			dir = rel
		}
	}
	return fmt.Sprintf("mkdir -p %s && ./bin/osflow repo files %s > %s", dir, cfg.Channels.Testing, filepath.Join(dir, "osflow.repo"))
}

// nodeRepoFile is where the .repo file goes on a node that dnf updates.
func nodeRepoFile(cfg *config.Config) string {
	return fmt.Sprintf("osflow repo files %s > /etc/yum.repos.d/osflow.repo", cfg.Channels.Testing)
}

func metricsURL(listen string) string {
	if listen == "" {
		return "(disabled)"
	}
	return "http://" + listen + "/metrics"
}

// devPort is the port of a loopback temporal.address: the dev server only
// listens on this machine.
func devPort(address string) (int, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return 0, err
	}
	if host != "127.0.0.1" && host != "localhost" && host != "::1" {
		return 0, fmt.Errorf("osflow dev runs its own server on this machine; %q is not a loopback address", address)
	}
	return strconv.Atoi(port)
}
