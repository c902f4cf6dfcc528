package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap/zaptest"
)

func TestExporterServesSDKMetrics(t *testing.T) {
	e, err := Listen("127.0.0.1:0", zaptest.NewLogger(t))
	require.NoError(t, err)
	require.NotEqual(t, "127.0.0.1:0", e.Addr())

	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- e.Serve(ctx) }()

	h := e.Handler().WithTags(map[string]string{"repo": "baseos"})
	h.Counter("osflow_test_syncs").Inc(3)
	h.Timer("osflow_test_sync_latency").Record(250 * time.Millisecond)

	hc := &http.Client{Timeout: 5 * time.Second}
	var body string
	require.Eventually(t, func() bool {
		resp, err := hc.Get("http://" + e.Addr() + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK && strings.Contains(body, `osflow_test_syncs_total{repo="baseos"} 3`)
	}, 10*time.Second, 100*time.Millisecond, "last scrape:\n%s", body)
	require.Contains(t, body, `osflow_test_sync_latency_seconds_bucket{repo="baseos"`)
	require.Contains(t, body, "go_goroutines")

	cancel()
	select {
	case err := <-served:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	_, err = hc.Get("http://" + e.Addr() + "/metrics")
	require.Error(t, err, "server still up after shutdown")
}

func TestDisabled(t *testing.T) {
	handler, serve, err := New("", nil)
	require.NoError(t, err)
	require.Equal(t, client.MetricsNopHandler, handler)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	select {
	case <-done:
		t.Fatal("serve returned before ctx was done")
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	require.NoError(t, <-done)
}

func TestListenError(t *testing.T) {
	e, err := Listen("127.0.0.1:0", nil)
	require.NoError(t, err)
	_, _, err = New(e.Addr(), nil) // port taken
	require.ErrorContains(t, err, "metrics:")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.NoError(t, e.Serve(ctx))
}
