// Package activities holds osflow's Temporal activities: structs of
// integration clients whose methods map workflow inputs to integration calls
// and classify errors as retryable or not.
package activities

import "time"

// SyncPlan is what the worker's configuration says a sync covers. It is read
// by an activity so that the workflow stays deterministic and the schedule
// never has to carry configuration.
type SyncPlan struct {
	Repos            []string
	RepoTaskQueue    string
	DailyChannel     string
	TestingChannel   string
	Timeout          time.Duration
	HeartbeatTimeout time.Duration
	MaxAttempts      int32
}

// SyncRepoInput asks the repo worker to mirror one configured repo.
type SyncRepoInput struct {
	Repo string
}

// SyncProgress is the heartbeat detail of a running repo sync; `osflow sync
// --wait` and the Web UI's pending-activity view show it.
type SyncProgress struct {
	Repo       string
	Stage      string
	FilesDone  int
	FilesTotal int
	BytesDone  int64
	BytesTotal int64
}

// CreateReleaseInput names the snapshots of a new release. CreatedAt comes
// from workflow time so that a retried activity names the same release.
type CreateReleaseInput struct {
	Snapshots map[string]string
	CreatedAt time.Time
}

// CreateReleaseResult is the release that now holds those snapshots.
type CreateReleaseResult struct {
	Release string
	Created bool
}

// SwitchChannelInput points a channel at a release.
type SwitchChannelInput struct {
	Channel string
	Release string
	Actor   string
	Reason  string
}

// ChannelSwitch is the outcome of one channel switch.
type ChannelSwitch struct {
	Channel string
	From    string
	To      string
	Changed bool
}

// RollbackInput moves a channel back to a release it served before; an
// empty To means the release it served before the current one.
type RollbackInput struct {
	Channel string
	To      string
	Actor   string
	Reason  string
}

// RepoSync is the outcome of mirroring one repo.
type RepoSync struct {
	Repo            string
	Snapshot        string
	Changed         bool
	Packages        int
	Downloaded      int
	DownloadedBytes int64
}

// TestingUpdated is the payload of SignalTestingUpdated.
type TestingUpdated struct {
	Release string
	Channel string
	Actor   string
}

// SignalWithStartInput delivers a signal to a workflow, starting it first
// if it is not running. DailySync uses it to wake the test cycle.
type SignalWithStartInput struct {
	WorkflowID   string
	WorkflowType string
	Signal       string
	Payload      TestingUpdated
}
