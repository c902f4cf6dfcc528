// Package workflows holds osflow's deterministic Temporal workflows and the
// contract (names, inputs, results) that workers, the CLI and tests share.
package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/osflow/osflow/activities"
)

// Names operators and scripts see: workflow IDs, schedule IDs, message names.
const (
	DailySyncScheduleID = "osflow-daily-sync"
	// DailySyncManualPrefix prefixes the ID of a DailySync started by `osflow sync`.
	DailySyncManualPrefix = "daily-sync-manual-"
	TestCycleWorkflowID   = "test-cycle"
	RollbackPrefix        = "rollback-"

	SignalTestingUpdated = "testing-updated"
	SignalApproveOutage  = "approve-outage"
	SignalRejectOutage   = "reject-outage"
	QueryStatus          = "status"

	// Operator commands of the test cycle: Updates with validators (the
	// caller is told applied or refused, and why), also accepted as
	// Signals of the same name for tctl and the Web UI's Send Signal.
	UpdateFreeze   = "freeze" // FreezeRequest; Frozen false unfreezes
	UpdateTaskDone = "task-done"
	UpdateTestNow  = "test-now"
	// SignalFreeze and SignalTaskDone are the signal forms.
	SignalFreeze   = UpdateFreeze
	SignalTaskDone = UpdateTaskDone

	PromotionPrefix = "promotion-"
	MergeBackPrefix = "mergeback-"

	// Operator commands of a promotion: Updates with validators, and the
	// same names as Signals (tctl, the Web UI's Send Signal).
	UpdateApproveOutage    = SignalApproveOutage // ApproveRequest
	UpdateRejectOutage     = SignalRejectOutage  // RejectRequest
	UpdateComment          = "comment"           // CommentRequest
	UpdateOutageIssue      = "outage-issue"      // OutageIssueRequest
	UpdateEndOutage        = "end-outage"        // EndOutageRequest
	UpdateProceed          = "proceed"           // ProceedRequest
	UpdateConflictResolved = "conflict-resolved" // ConflictResolved
	// task-done (UpdateTaskDone) reports a manual task of the outage too.
)

// MergeBackWorkflowID names the merge-back after the promotion of a release.
func MergeBackWorkflowID(release string) string { return MergeBackPrefix + release }

// CommentRequest adds a note to a promotion.
type CommentRequest struct {
	By   string
	Text string
}

// OutageIssueRequest files a ticket for a problem met during the outage.
type OutageIssueRequest struct {
	By   string
	Text string
}

// EndOutageRequest ends the outage's silences before the window's end.
type EndOutageRequest struct {
	By string
}

// ProceedRequest decides, when testing has moved on before the window,
// whether the approved candidate goes to production anyway.
type ProceedRequest struct {
	By      string
	Proceed bool
	Comment string
	// Statement and Signature prove who decided, as for approve-outage;
	// the statement's decision is proceed or cancel, its window the
	// approved one.
	Statement string `json:",omitempty"`
	Signature string `json:",omitempty"`
}

// ConflictResolved reports a merge conflict in Repo resolved by hand.
type ConflictResolved struct {
	Repo string
	By   string
}

// PromotionWorkflowID names the promotion of one release.
func PromotionWorkflowID(release string) string { return PromotionPrefix + release }

// TaskDone reports that an operator finished a manual outage task.
type TaskDone struct {
	Task string
	By   string
}

// FreezeRequest holds (Frozen) or releases the testing channel at the
// release it serves while the gate converges.
type FreezeRequest struct {
	Frozen bool
	Actor  string
	Reason string
}

// FreezeResult is the testing channel after a freeze or unfreeze.
type FreezeResult struct {
	Frozen  bool
	Release string
	By      string
	Reason  string
}

// TaskDoneResult confirms a manual rehearsal task.
type TaskDoneResult struct {
	Task    string
	By      string
	Release string
}

// TestNowRequest asks the cycle for a round at once.
type TestNowRequest struct {
	By string
}

// TestNowResult names the release the requested round will test.
type TestNowResult struct {
	Release string
}

// Decision is the approve/reject signal of the placeholder promotion
// (promotionV0).
type Decision struct {
	By      string
	Comment string
}

// Search attributes shown and filterable in the Web UI. They must be
// registered on the cluster (osflow dev does it; the README lists the
// commands for a real cluster).
var (
	AttrPhase       = temporal.NewSearchAttributeKeyKeyword("OsflowPhase")
	AttrRelease     = temporal.NewSearchAttributeKeyKeyword("OsflowRelease")
	AttrChannel     = temporal.NewSearchAttributeKeyKeyword("OsflowChannel")
	AttrOpenTickets = temporal.NewSearchAttributeKeyInt64("OsflowOpenTickets")
	AttrApproval    = temporal.NewSearchAttributeKeyKeyword("OsflowApproval")
)

// SearchAttributes lists every custom attribute with its Temporal type, for
// registration.
func SearchAttributes() map[string]string {
	return map[string]string{
		AttrPhase.GetName():       "Keyword",
		AttrRelease.GetName():     "Keyword",
		AttrChannel.GetName():     "Keyword",
		AttrOpenTickets.GetName(): "Int",
		AttrApproval.GetName():    "Keyword",
	}
}

// Phases of DailySync, as OsflowPhase shows them.
const (
	PhasePlanning  = "planning"
	PhaseSyncing   = "syncing"
	PhaseReleasing = "releasing"
	PhaseSwitching = "switching"
	PhaseDone      = "done"
	PhaseFailed    = "failed"
	PhaseNoChange  = "no-change"
	// PhaseTestingFrozen: daily moved, testing is frozen and stayed.
	PhaseTestingFrozen = "testing-frozen"
)

// DailySyncInput starts a DailySync. The schedule passes the zero value.
type DailySyncInput struct {
	// Actor names who asked for the sync, for the channel audit log.
	Actor  string
	Reason string
	// AllowOlder names the repos whose upstream may serve a repomd.xml
	// older than the one last accepted (osflow sync --allow-older REPO).
	AllowOlder []string
}

// DailySyncStatus is DailySync's result and the answer to its status query.
type DailySyncStatus struct {
	Phase    string
	Repos    []activities.RepoSync
	Release  string
	Created  bool
	Switches []activities.ChannelSwitch
	Error    string
	// Stale are the repos that failed to sync and that the release
	// carries over from the one before, each with its ticket.
	Stale   []activities.StaleRepo `json:",omitempty"`
	Tickets map[string]string      `json:",omitempty"`
	// TicketError says why those tickets were not filed.
	TicketError string `json:",omitempty"`
}

// RollbackWorkflowID names a rollback of channel started at t.
func RollbackWorkflowID(channel string, t time.Time) string {
	return fmt.Sprintf("%s%s-%s", RollbackPrefix, channel, t.UTC().Format("20060102T150405Z"))
}

// BypassPrefix starts the ID of an emergency bypass.
const BypassPrefix = "bypass-"

// BypassWorkflowType is the registered name of Bypass, which the overlay
// source watcher starts by name.
const BypassWorkflowType = "Bypass"

// BypassWorkflowID names a bypass of overlay started at t.
func BypassWorkflowID(overlay string, t time.Time) string {
	return fmt.Sprintf("%s%s-%s", BypassPrefix, overlay, t.UTC().Format("20060102T150405.000Z"))
}

// BypassPackage is one RPM an emergency bypass adds to its overlay: a file
// already on the store host (Path, absolute; `osflow bypass` stages the
// files it is given under STORE/tmp first), or a URL whose download must
// match SHA256 (hex) before anything is kept.
type BypassPackage struct {
	Path   string
	URL    string
	SHA256 string
}

// BypassInput starts an emergency bypass: the packages go into the overlay
// and, at once, to testing and production.
type BypassInput struct {
	Overlay  string
	Packages []BypassPackage
	Reason   string
	Actor    string
	// AllowDowngrade lets a package older than what the overlay or a
	// channel has through.
	AllowDowngrade bool
}
