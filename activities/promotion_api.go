package activities

import (
	"time"

	"github.com/osflow/osflow/internal/approvalsig"
)

// PromotionPlan is what the worker's configuration says the production
// phase does.
type PromotionPlan struct {
	Approvers []string
	// ApproverKeys maps an approver to their SSH public key; with
	// RequireSigned, each decision carries a statement signed with it.
	ApproverKeys      map[string]string
	RequireSigned     bool
	RemindEvery       time.Duration
	Window            time.Duration
	ProductionChannel string
	TestingChannel    string
	RepoTaskQueue     string
	Tasks             []TaskPlan
	// Verify lists the suites run against production at the end.
	Verify        []string
	SuiteTimeouts map[string]time.Duration
	// Repos names the config and monitoring git repos merged test to
	// production, each with its branches.
	Repos []GitRepoPlan
	// Silences and Backup say whether a real system is configured (the
	// steps run and are logged either way).
	Silences bool
	Backup   bool
}

// GitRepoPlan is one git repo a promotion merges.
type GitRepoPlan struct {
	Name       string
	Kind       string // config or monitoring
	Test       string
	Production string
}

// PromotionDoneInput asks whether a release's promotion to a channel
// completed.
type PromotionDoneInput struct {
	Release string
	Channel string
}

// ReleaseInput names a release.
type ReleaseInput struct {
	Release string
}

// Advisory is an upstream advisory a release brings to production.
type Advisory struct {
	ID       string
	Type     string
	Severity string
	Title    string
	CVEs     []string
	Repo     string
	// Packages are the candidate's builds that carry the fix and that
	// production lacks (NEVRA), at most maxAdvisoryPackages;
	// MorePackages counts the rest.
	Packages     []string
	MorePackages int
}

// PackageRisk is what the packages of a promotion change in production:
// the diff and the advisories it carries, security first.
type PackageRisk struct {
	Diff       DiffSummary
	Advisories []Advisory
	// MoreAdvisories counts the advisories left out of the list.
	MoreAdvisories int
	// Modules are the module stream and default changes ("[appstream]
	// default stream of nodejs: 8 -> 10"), at most maxAdvisories;
	// MoreModules counts the rest.
	Modules     []string
	MoreModules int
	// Stale are the repos the candidate carries over from an earlier
	// release because their sync failed.
	Stale []StaleRepo `json:",omitempty"`
}

// BypassNote is one past bypass, as the risk report lists it.
type BypassNote struct {
	ID       string
	Time     time.Time
	Overlay  string
	Packages []string
	Actor    string
	Reason   string
}

// InventoryDiff is one fact compared between the test and production
// clusters.
type InventoryDiff struct {
	Name       string
	Same       bool
	Testing    string
	Production string
	Error      string
}

// RiskReport is what management reads before approving an outage.
type RiskReport struct {
	Release    string
	Production string // the release production serves now
	Packages   PackageRisk
	Config     []GitChange
	Monitoring []GitChange
	Inventory  []InventoryDiff
	Tasks      []TaskTiming
	Estimate   time.Duration
	Tickets    []TicketRef
	Users      []TicketRef
}

// PublishRiskInput publishes the risk report to the wiki and notifies.
type PublishRiskInput struct {
	Candidate Candidate
	Risk      RiskReport
	Promotion string
	Key       string
	// Comments are the people's comments on the promotion so far.
	Comments []Comment `json:",omitempty"`
}

// Comment is a person's note on a promotion, as its page lists it.
type Comment struct {
	By   string
	Text string
	At   time.Time
}

// Published is a wiki page.
type Published struct {
	Page string
	URL  string
}

// NotifyInput is one message, sent once per key.
type NotifyInput struct {
	Key     string
	Subject string
	Text    string
}

// SilenceInput silences monitoring for an outage window.
type SilenceInput struct {
	Key     string
	Start   time.Time
	End     time.Time
	Comment string
}

// KeyInput names an operation by its key.
type KeyInput struct {
	Key string
}

// BackupResult is the backup job a promotion ran.
type BackupResult struct {
	JobID  string
	Status string
}

// MergeInput merges one git repo's branch into another, keyed: the merge
// commit's message carries the key's marker.
type MergeInput struct {
	Repo    string
	From    string
	Into    string
	Message string
	Key     string
}

// MergeRecord is what a keyed merge did.
type MergeRecord struct {
	Repo string
	Into string
	// Commit is the merge commit this operation pushed, "" when there was
	// nothing to merge.
	Commit    string
	Conflicts []string
	// Reapplied are the reverts of tested changes the merge undid, as
	// "hash subject" (a failed promotion's rollback, see scm.Merge).
	Reapplied []string
}

// Outcome says what the merge pushed, for a person.
func (m MergeRecord) Outcome() string {
	if m.Commit == "" {
		return "nothing to merge"
	}
	return "merge commit " + m.Commit
}

// RevertInput reverts a merge with a new commit (never a force-push).
type RevertInput struct {
	Repo    string
	Branch  string
	Commit  string
	Message string
}

// TicketInput files a ticket, or comments on the open one with its
// fingerprint; Key makes a retry find its first attempt's ticket.
type TicketInput struct {
	Fingerprint string
	Title       string
	Body        string
	Key         string
	// Extra labels on top of tickets.labels.
	Labels []string
}

// CloseTicketInput closes a ticket osflow filed, with a comment.
type CloseTicketInput struct {
	ID      string
	Comment string
}

// PromotionRecordInput records a promotion's switch in the release's
// provenance.
type PromotionRecordInput struct {
	Release     string
	Key         string
	Promotion   string
	Run         string
	Channel     string
	Approver    string
	Comment     string
	WindowStart time.Time
	WindowEnd   time.Time
	Outcome     string
	// Signed is the approval's signed statement, recorded with the switch.
	Signed *approvalsig.Signed `json:",omitempty"`
}

// OutcomeInput publishes how an outage went.
type OutcomeInput struct {
	Release   string
	Promotion string
	Page      string
	Key       string
}
