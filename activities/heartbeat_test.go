package activities

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/scm/scmtest"
	"github.com/osflow/osflow/internal/testtool"
)

// A git call that outlasts the heartbeat timeout (here a push held by a
// slow pre-receive hook) heartbeats while it waits, so Temporal does not
// time it out and run the merge again. The hook holds the push until the
// test has seen a heartbeat.
func TestSlowCallsHeartbeat(t *testing.T) {
	testtool.Need(t, "git")
	remote := scmtest.NewRemote(t)
	remote.Commit("production", "base", map[string]string{"a": "1\n"})
	remote.Branch("test", "production")
	remote.Commit("test", "tested change", map[string]string{"b": "2\n"})
	gate := filepath.Join(t.TempDir(), "gate")
	hook := filepath.Join(remote.Bare, "hooks", "pre-receive")
	require.NoError(t, os.WriteFile(hook, []byte("#!/bin/sh\nwhile [ ! -e '"+gate+"' ]; do sleep 0.05; done\n"), 0o755))

	cfg := &config.Config{Path: "osflow.yaml", Git: config.Git{Config: []config.GitRepo{{Name: "puppet", URL: remote.URL()}}}}
	acts := &PromotionActivities{Config: cfg, CacheDir: t.TempDir(), HeartbeatEvery: 10 * time.Millisecond}

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	beats := make(chan struct{}, 100)
	env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) {
		select {
		case beats <- struct{}{}:
		default:
		}
	})
	done := make(chan error, 1)
	var rec MergeRecord
	go func() {
		val, err := env.ExecuteActivity(acts.Merge, MergeInput{Repo: "puppet", From: "test", Into: "production", Message: "release r2", Key: "k1"})
		if err == nil {
			err = val.Get(&rec)
		}
		done <- err
	}()
	// The test environment passes on the first heartbeat at once and the
	// next ones at most every 30s, as the SDK sends them: one is enough.
	select {
	case <-beats:
	case err := <-done:
		t.Fatalf("merge ended before heartbeating: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no heartbeat while the push was held")
	}
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	require.NoError(t, <-done)
	require.Equal(t, rec.Commit, remote.Tip("production"))
	require.Equal(t, "2\n", remote.Show("production", "b"))
}
