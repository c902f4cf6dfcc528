package activities

import (
	"context"

	"github.com/osflow/osflow/config"
)

// ConfigActivities answers workflows' questions about the worker's
// configuration, so that the configuration enters history once per run and
// workflows stay deterministic.
type ConfigActivities struct {
	Config *config.Config
}

// SyncPlan lists what a DailySync covers.
func (a *ConfigActivities) SyncPlan(_ context.Context) (SyncPlan, error) {
	c := a.Config
	plan := SyncPlan{
		RepoTaskQueue:    c.Temporal.RepoTaskQueue,
		DailyChannel:     c.Channels.Daily,
		TestingChannel:   c.Channels.Testing,
		Timeout:          c.Sync.Timeout.Duration,
		HeartbeatTimeout: c.Sync.HeartbeatTimeout.Duration,
		MaxAttempts:      int32(c.Sync.MaxAttempts),
	}
	for _, r := range c.Repos {
		plan.Repos = append(plan.Repos, r.Name)
	}
	return plan, nil
}
