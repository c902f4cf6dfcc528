package tests

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

// TestControlDoesNotWaitForDownloads holds every download slot of the repo
// worker with syncs of upstreams that do not answer, then rolls a channel
// back: the rollback's store activities run on the control queue's own
// slots, and the rollback ends while the downloads are still held.
func TestControlDoesNotWaitForDownloads(t *testing.T) {
	var held atomic.Int32
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held.Add(1)
		defer held.Add(-1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "upstream released", http.StatusServiceUnavailable)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	var repos strings.Builder
	for i := range 5 { // one more than the repo queue's 4 slots
		fmt.Fprintf(&repos, "  - name: slow%d\n    url: %s/slow%d/\n", i, slow.URL, i)
	}
	s := newSite(t, "e2e-control", nil, repos.String())

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	syncRun, err := starter.StartSync(ctx, s.client, s.cfg, "e2e", "slow sync")
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.client.TerminateWorkflow(context.Background(), syncRun.GetID(), "", "test over") })
	require.Eventually(t, func() bool { return held.Load() >= 4 }, time.Minute, 50*time.Millisecond,
		"the syncs hold every download slot")

	run, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "rollback-testing", TaskQueue: s.cfg.Temporal.TaskQueue},
		workflows.ChannelRollback, activities.RollbackInput{Channel: "testing", Actor: "e2e", Reason: "control while syncing"})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- run.Get(ctx, nil) }()
	select {
	case err := <-done:
		// The store has no release yet, so the store refuses the rollback:
		// what matters is that a repo worker ran it.
		require.ErrorContains(t, err, "roll back testing")
	case <-ctx.Done():
		t.Fatal("the rollback waited for the downloads")
	}
	require.GreaterOrEqual(t, held.Load(), int32(4), "the downloads were still held when the rollback ended")
	recordHistory(t, s.client, run.GetID(), run.GetRunID(), "rollback-v2-control-queue")
}
