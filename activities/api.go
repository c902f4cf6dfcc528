// Package activities holds osflow's Temporal activities: structs of
// integration clients whose methods map workflow inputs to integration calls
// and classify errors as retryable or not.
package activities

import (
	"fmt"
	"time"
)

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
	// Required are the repos whose failure fails the whole sync; any
	// other keeps its last good snapshot, marked stale.
	Required []string `json:",omitempty"`
}

// SyncRepoInput asks the repo worker to mirror one configured repo.
type SyncRepoInput struct {
	Repo string
	// AllowOlder accepts an upstream repomd.xml older than the last one
	// accepted, or than repos[].maxAge (osflow sync --allow-older REPO).
	AllowOlder bool
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
	// Counts across every attempt of this sync: files and bytes fetched
	// into the pool, and single-file retries spent.
	Downloaded      int
	DownloadedBytes int64
	Retries         int
}

// SyncFailure is the detail of a failed SyncRepo: its root cause once,
// the kind of failure (an ErrType), and what to do.
type SyncFailure struct {
	Repo  string
	URL   string
	Kind  string
	Cause string
	Hint  string
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

// PublishReleaseInput records snapshots as a release and switches
// channels to it, in order.
type PublishReleaseInput struct {
	Snapshots map[string]string
	CreatedAt time.Time
	// Switches are done in order, each with its own key; their Release is
	// the one created.
	Switches []SwitchChannelInput
	// Failed are the repos whose sync failed and which are not required:
	// the release keeps the snapshot that the first switch's channel
	// (daily) serves for each, marked stale.
	Failed []SyncFailure `json:",omitempty"`
}

// PublishReleaseResult is the release and what each switch did.
type PublishReleaseResult struct {
	CreateReleaseResult
	Switches []ChannelSwitch
	// Stale are the repos the release carries over, sorted by name.
	Stale []StaleRepo `json:",omitempty"`
	// Recovered are the repos the release before marked stale that
	// synced this time: their outage is over.
	Recovered []string `json:",omitempty"`
}

// StaleRepo is a repo a release carries over from an earlier one because
// its sync failed.
type StaleRepo struct {
	Repo     string
	Snapshot string
	// Since is when the outage began (the first release marking it).
	Since time.Time
	URL   string
	Cause string
}

// StaleReposInput reports the repos a release carries over and those
// that recovered, to the tracker: one ticket per repo outage, filed when
// it begins and closed when it ends.
type StaleReposInput struct {
	Release   string
	Stale     []StaleRepo
	Recovered []string
}

// StaleReposResult names the ticket of each stale repo, and the tickets
// closed for the recovered ones.
type StaleReposResult struct {
	Tickets map[string]string `json:",omitempty"`
	Closed  map[string]string `json:",omitempty"`
}

// SwitchChannelInput points a channel at a release.
type SwitchChannelInput struct {
	Channel string
	Release string
	Actor   string
	Reason  string
	// Key names the operation; empty means the activity's own identity.
	Key string
}

// ChannelSwitch is the outcome of one channel switch, as the channel's
// audit log recorded it under the operation key.
type ChannelSwitch struct {
	Channel string
	From    string
	To      string
	Key     string
	// Changed: this operation moved the channel (in any attempt).
	Changed bool
	// Frozen is set when the channel is frozen and was left where it was.
	Frozen bool
}

// RollbackInput moves a channel back to a release it served before. To is
// resolved to an absolute release (ResolveRollback) before the switch; an
// empty To asks for the release served before the current one.
type RollbackInput struct {
	Channel string
	To      string
	Actor   string
	Reason  string
	Key     string
}

// ChannelStateInput names a channel to read.
type ChannelStateInput struct {
	Channel string
}

// ChannelState is what a channel serves now, and its freeze if any.
type ChannelState struct {
	Channel string
	Release string
	// Base is the release Release was derived from by carrying bypasses
	// (itself when it was not): the one a test cycle tested.
	Base string
	// Chain is Release and each release it was derived from, back to
	// Base: a promotion of any of them finds its candidate in testing.
	Chain  []string
	Freeze *FreezeState
}

// FreezeState is who holds a channel at which release, since when, why.
type FreezeState struct {
	Actor   string
	Reason  string
	Since   time.Time
	Release string
	Key     string
}

// RepoSync is the outcome of mirroring one repo.
type RepoSync struct {
	Repo            string
	Snapshot        string
	Changed         bool
	Packages        int
	Downloaded      int
	DownloadedBytes int64
	// Retries counts single-file retries through a flapping upstream.
	Retries int
	// Mirror is the base URL read, when the repo has a mirrorlist or
	// metalink; Refused are the mirrors tried before it, and why.
	Mirror  string          `json:",omitempty"`
	Refused []RefusedMirror `json:",omitempty"`
}

// RefusedMirror is a mirror a sync did not read from.
type RefusedMirror struct {
	Mirror, Reason string
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
	// Summary and Details are the Web UI's static summary and details of
	// the workflow, when this starts it.
	Summary string `json:",omitempty"`
	Details string `json:",omitempty"`
}

// TestPlan is what the worker's configuration says the test cycle does.
type TestPlan struct {
	Suites            []string
	Tasks             []TaskPlan
	TestingChannel    string
	ProductionChannel string
	RepoTaskQueue     string
	CleanRounds       int
	BlockerLabel      string
	MinSoak           time.Duration
	RoundInterval     time.Duration
	// PassingRounds: a clean round also has no failing case at all.
	PassingRounds bool
	// SuiteTimeouts is each suite's configured timeout.
	SuiteTimeouts map[string]time.Duration
	// RequireSuites: the gate waits while no suite is configured
	// (testing.allowEmptyGate false). A plan recorded before this field
	// existed reads false, so its gate replays as it was decided.
	RequireSuites bool
}

// TaskPlan is one outage task as configured.
type TaskPlan struct {
	Name     string
	Manual   bool
	Expected time.Duration
	Timeout  time.Duration
	Where    string
}

// RunSuiteInput runs one configured suite against a channel's release.
type RunSuiteInput struct {
	Suite   string
	Channel string
	Release string
	// Bounded keeps the result small enough for workflow history: counts,
	// the failing cases (at most maxFailingCases) and the passing cases
	// named in Watch. Without it (callers from before bounded results)
	// every case is returned.
	Bounded bool
	// Watch lists fingerprints whose cases are reported even when they
	// pass: their tickets are open and may close.
	Watch []string
	// ByRef keeps the bounded cases in a file on the worker and returns a
	// reference (SuiteResult.Ref) instead: workflow payloads stay small
	// whatever fails. Implies Bounded.
	ByRef bool
}

// SuiteRunCase names the case that stands for a suite's run itself: a
// suite that cannot run is this case failing.
const SuiteRunCase = "(suite run)"

// CaseResult is one test case's outcome.
type CaseResult struct {
	Suite   string
	Name    string
	Status  string
	Message string
}

// Failed reports whether the case counts as a failure.
func (c CaseResult) Failed() bool { return c.Status == "failed" || c.Status == "error" }

// Fingerprint is the ticket key of a case: the same failure on another
// release is the same ticket.
func (c CaseResult) Fingerprint() string { return c.Suite + "/" + c.Name }

// SuiteResult is one suite run's outcome.
type SuiteResult struct {
	Suite string
	// URL points at the full report: the Jenkins build, or the JUnit file
	// the worker kept.
	URL   string
	Cases []CaseResult
	// Passed and Failed count every case of the run; Cases may hold fewer.
	Passed int
	Failed int
	// Omitted counts the failing cases left out of Cases by the bound.
	Omitted int
	// Ref, when set, holds the bounded cases; Cases then holds only what
	// the workflow added (the suite's own run). ProcessResults reads it.
	Ref *ResultsRef `json:",omitempty"`
}

// ResultsRef points at a suite run's bounded cases, kept by the worker
// that ran the suite.
type ResultsRef struct {
	Host   string
	Path   string
	SHA256 string
}

// ProcessResultsInput turns a round's results into ticket actions.
type ProcessResultsInput struct {
	Release string
	Channel string
	Results []SuiteResult
	// Key names the round's ticket operations; every ticket and comment
	// carries it, so a retry finds what an earlier attempt did.
	Key string
}

// TicketSummary is what a round did to the tracker and what it holds now.
type TicketSummary struct {
	Cases     int
	Failures  int
	New       []string
	Commented []string
	Closed    []string
	Open      int
	Blockers  int
	// OpenFingerprints lists the fingerprints of the open tickets, the
	// oldest 500 when more are open.
	OpenFingerprints []string
}

// maxSummaryIDs bounds the ticket lists a summary keeps in workflow state.
const maxSummaryIDs = 50

// Bounded is the summary as a round keeps it in carried state: ticket ID
// lists cut to maxSummaryIDs, no fingerprints.
func (s TicketSummary) Bounded() TicketSummary {
	cut := func(ids []string) []string {
		if len(ids) > maxSummaryIDs {
			return append(ids[:maxSummaryIDs:maxSummaryIDs], fmt.Sprintf("(and %d more)", len(ids)-maxSummaryIDs))
		}
		return ids
	}
	s.New, s.Commented, s.Closed = cut(s.New), cut(s.Commented), cut(s.Closed)
	s.OpenFingerprints = nil
	return s
}

// RunTaskInput runs one outage task on the test cluster.
type RunTaskInput struct {
	Task    string
	Release string
	Channel string
}

// TaskResult is a command task's measured run.
type TaskResult struct {
	Task     string
	Duration time.Duration
	Output   string
	State    string // how it ended: "exit status 0"
}

// TaskTiming is one outage task with its measured duration.
type TaskTiming struct {
	Task     string
	Manual   bool
	Where    string
	Expected time.Duration
	Measured time.Duration
	By       string
}

// DiffSummaryInput asks for the package changes between two releases or channels.
type DiffSummaryInput struct {
	From string
	To   string
}

// DiffSummary is a bounded, printable release diff.
type DiffSummary struct {
	From       string
	To         string
	Added      int
	Removed    int
	Upgraded   int
	Downgraded int
	Rebuilt    int
	// FromNothing: From serves nothing yet (a first promotion), so the
	// diff is To's whole content.
	FromNothing bool
	// AddedRepos and RemovedRepos are the repos on one side only; the
	// counts above include their packages.
	AddedRepos, RemovedRepos []RepoCount
	// Lines holds one line per change ("+ name-evr.arch", "^ a -> b"), at most maxDiffLines.
	Lines     []string
	Truncated bool
	// Bypasses are the emergency bypasses since production's last
	// promotion, when From is the production channel: they reached
	// production untested, and a switch carries each into the release
	// unless its overlay snapshot is newer.
	Bypasses []BypassNote
	// Shadows are the NEVRAs To's repos serve as different builds, as
	// its release recorded them ("hpc-base-tools-1.3-1.noarch: overlay
	// site (sha256 ab12…) shadows baseos (sha256 cd34…)"), at most
	// maxShadows; MoreShadows counts the rest.
	Shadows     []string
	MoreShadows int
}

// RepoCount is a repo and its number of packages.
type RepoCount struct {
	Repo     string
	Packages int
}

// GitChange is what merging a config or monitoring repo's test branch
// into production would do.
type GitChange struct {
	Repo    string
	Kind    string
	Base    string
	Head    string
	Commits []string // on test, not on production
	// Reapplied are reverts on production of tested changes (a failed
	// promotion's rollback) that the merge undoes.
	Reapplied []string
	// OnlyProduction are production's own commits (hotfixes, reverts),
	// which stay.
	OnlyProduction []string
	Conflicts      []string
	Stat           string // production's change: its tip to the merge result
	Truncated      bool
	FetchError     string
}

// TicketRef names an open ticket on the candidate page.
type TicketRef struct {
	ID    string
	Title string
	URL   string
}

// CandidateInput is what the workflow knows when it assembles a candidate.
type CandidateInput struct {
	Release    string
	Production string
	Diff       DiffSummary
	Tasks      []TaskTiming
	Rounds     int
	// Gate is the gate's verdict that let the release through, kept as
	// the release's provenance.
	Gate []string
}

// Candidate is the release candidate: the release plus the five outputs.
type Candidate struct {
	Release       string
	Production    string
	Diff          DiffSummary
	Tasks         []TaskTiming
	TotalEstimate time.Duration
	Config        []GitChange
	Monitoring    []GitChange
	OpenTickets   []TicketRef
	// UnreadableTickets are the ticket files skipped because they do not
	// parse, each error naming its file: a person fixes them.
	UnreadableTickets []string `json:",omitempty"`
	WikiPage          string
	WikiURL           string
	// Rounds and Gate say how the release passed the test cycle.
	Rounds int
	Gate   []string
}

// FreezeInput holds a channel at Release, or releases it.
type FreezeInput struct {
	Channel string
	Frozen  bool
	// Release is the release the channel must serve for the freeze to apply.
	Release string
	Actor   string
	Reason  string
	Key     string
	// IfKey makes an unfreeze release only the freeze operation IfKey took.
	IfKey string
}
