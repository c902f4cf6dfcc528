package activities

import (
	"context"
	"time"

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
		if r.Required {
			plan.Required = append(plan.Required, r.Name)
		}
	}
	return plan, nil
}

// TestPlan lists what the test cycle runs and how its gate is set.
func (a *ConfigActivities) TestPlan(_ context.Context) (TestPlan, error) {
	c := a.Config
	p := TestPlan{
		TestingChannel:    c.Channels.Testing,
		ProductionChannel: c.Channels.Production,
		RepoTaskQueue:     c.Temporal.RepoTaskQueue,
		CleanRounds:       c.Testing.Gate.CleanRounds,
		BlockerLabel:      c.Testing.Gate.BlockerLabel,
		MinSoak:           c.Testing.Gate.MinSoak.Duration,
		RoundInterval:     c.Testing.RoundInterval.Duration,
		PassingRounds:     c.Testing.Gate.PassingRounds,
		SuiteTimeouts:     map[string]time.Duration{},
		RequireSuites:     !c.Testing.AllowEmptyGate,
	}
	for _, s := range c.Testing.Suites {
		p.Suites = append(p.Suites, s.Name)
		p.SuiteTimeouts[s.Name] = s.Timeout.Duration
	}
	for _, t := range c.Outage.Tasks {
		p.Tasks = append(p.Tasks, TaskPlan{Name: t.Name, Manual: t.Manual, Expected: t.Expected.Duration, Timeout: t.Timeout.Duration, Where: t.Where})
	}
	return p, nil
}

// PromotionPlan lists what the production phase does.
func (a *ConfigActivities) PromotionPlan(ctx context.Context) (PromotionPlan, error) {
	c := a.Config
	test, err := a.TestPlan(ctx)
	if err != nil {
		return PromotionPlan{}, err
	}
	p := PromotionPlan{
		Approvers:         c.Production.Approvers,
		ApproverKeys:      c.Production.ApproverKeys,
		RequireSigned:     c.Production.RequireSignedApprovals,
		RemindEvery:       c.Production.RemindEvery.Duration,
		Window:            c.Production.Window.Duration,
		ProductionChannel: c.Channels.Production,
		TestingChannel:    c.Channels.Testing,
		RepoTaskQueue:     c.Temporal.RepoTaskQueue,
		Tasks:             test.Tasks,
		Verify:            c.Production.Verify,
		SuiteTimeouts:     test.SuiteTimeouts,
		Silences:          c.Monitoring.Alertmanager != nil || c.Monitoring.Nagios != nil,
		Backup:            c.Backup.Bacula != nil,
	}
	if len(p.Verify) == 0 {
		p.Verify = test.Suites
	}
	for _, kind := range []struct {
		kind  string
		repos []config.GitRepo
	}{{"config", c.Git.Config}, {"monitoring", c.Git.Monitoring}} {
		for _, r := range kind.repos {
			p.Repos = append(p.Repos, GitRepoPlan{Name: r.Name, Kind: kind.kind, Test: r.TestBranch, Production: r.ProductionBranch})
		}
	}
	return p, nil
}
