// Package metrics exposes the Temporal SDK's metrics (and the process's) to
// Prometheus at http://LISTEN/metrics.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/uber-go/tally/v4"
	promreporter "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
	"go.uber.org/zap"
)

// reportInterval is how often tally hands what was recorded to the
// Prometheus registry; a scrape sees values at most this old.
const reportInterval = time.Second

// shutdownTimeout bounds the wait for scrapes in flight when Serve stops.
const shutdownTimeout = 5 * time.Second

// Exporter owns the metrics handler given to the Temporal client and the HTTP
// server that Prometheus scrapes.
type Exporter struct {
	handler client.MetricsHandler
	ln      net.Listener // nil when disabled
	srv     *http.Server
	scope   io.Closer
	logger  *zap.Logger
}

// New is Listen for callers that need only the handler and the serve loop:
// pass handler as client.Options.MetricsHandler and run serve until shutdown.
func New(listen string, logger *zap.Logger) (handler client.MetricsHandler, serve func(ctx context.Context) error, err error) {
	e, err := Listen(listen, logger)
	if err != nil {
		return nil, nil, err
	}
	return e.Handler(), e.Serve, nil
}

// Listen binds listen (host:port; port 0 picks a free one) and prepares the
// exporter; Serve then answers scrapes. An empty listen disables metrics: the
// handler is client.MetricsNopHandler and Serve only waits.
func Listen(listen string, logger *zap.Logger) (*Exporter, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	if listen == "" {
		return &Exporter{handler: client.MetricsNopHandler, logger: logger}, nil
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}

	registry := prom.NewRegistry()
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	reporter := promreporter.NewReporter(promreporter.Options{
		Registerer:       registry,
		DefaultTimerType: promreporter.HistogramTimerType,
		OnRegisterError: func(err error) {
			logger.Warn("metric not registered with Prometheus", zap.Error(err))
		},
	})
	// Naming as go.temporal.io/sdk/contrib/tally recommends, so that names
	// match the other SDKs and the published dashboards.
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       promreporter.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, reportInterval)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", reporter.HTTPHandler())
	return &Exporter{
		handler: sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)),
		ln:      ln,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          zap.NewStdLog(logger),
		},
		scope:  closer,
		logger: logger,
	}, nil
}

// Handler is the handler to give the Temporal client (client.Options.MetricsHandler).
func (e *Exporter) Handler() client.MetricsHandler { return e.handler }

// Addr is the bound address, such as "127.0.0.1:9464"; "" when disabled.
func (e *Exporter) Addr() string {
	if e.ln == nil {
		return ""
	}
	return e.ln.Addr().String()
}

// Serve answers scrapes until ctx is done, then shuts the server down
// gracefully and returns nil. It returns early only if the server fails.
// Call it once.
func (e *Exporter) Serve(ctx context.Context) error {
	if e.ln == nil {
		<-ctx.Done()
		return nil
	}
	defer e.scope.Close()
	e.logger.Info("serving metrics", zap.String("url", "http://"+e.Addr()+"/metrics"))

	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(e.ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := e.srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("metrics: shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
