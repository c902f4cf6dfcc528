package workflows

// Change IDs for workflow.GetVersion. Workflows run for weeks at sites, so
// every change to a workflow's sequence of commands is made behind one of
// these and the recorded histories in tests/testdata replay against it.
// Never reuse or remove an ID while a workflow that recorded it may still
// be running; never change the code of an old branch.
const (
	// DailySync wakes the test cycle whenever testing serves the new
	// release, not only when this run moved it.
	versionDailySyncWakeAlways = "dailysync-wake-always"
	// DailySync reads its plan and wakes the cycle with local activities,
	// and creates the release and switches both channels in one store
	// activity (PublishRelease): three fewer round trips through Temporal,
	// most of a no-op sync's time. Implies dailysync-wake-always.
	versionDailySyncFewerSteps = "dailysync-fewer-steps"
	// TestCycle reads the testing channel instead of trusting signals,
	// takes operator commands as Updates, freezes testing for the
	// rehearsal and files tickets with operation keys. Checked at the
	// start of a run: a run without it goes on with testCycleV0.
	versionCycleReconcile = "testcycle-reconcile"
	// ChannelRollback resolves its target into an absolute release first
	// and keys the switch.
	versionRollbackResolve = "rollback-resolve"
	// Promotion is the real production phase; before, a placeholder that
	// recorded a decision (promotionV0).
	versionPromotionOutage = "promotion-outage"
	// Promotion reads production before it waits for an approver (none
	// starts for the release production serves), supersedes the
	// promotions still waiting for approval, takes an approval that
	// arrives before its plan is loaded, gives up a decision at the
	// window's end, reports what production serves from the store, holds
	// testing at the candidate until it ends, and finds the candidate
	// anywhere in a chain of bypasses.
	versionPromotionTrueState = "promotion-true-state"
	// TestCycle records the candidate in the release's provenance before
	// it starts the promotion. Added without a marker first (fe8b4fd):
	// runs without it tell the two older builds apart by the candidate
	// (recordsCandidate).
	versionCycleRecordCandidate = "testcycle-record-candidate"
	// TestCycle's suite results travel to ProcessResults as references
	// to files the worker keeps, not inline.
	versionCycleResultsByRef = "testcycle-results-by-ref"
	// OverlayWatch starts the bypass of its bypass: auto sources as soon
	// as those sources are checked, before waiting for the others and
	// before adding theirs to the overlay: a failing vendor source no
	// longer holds a security fix.
	versionWatchBypassFirst = "overlaywatch-bypass-first"
	// Outage tasks (Promotion, and TestCycle's rehearsal) are retried
	// after their worker stops or dies: RunTask re-attaches to the run.
	versionTaskReattach = "task-reattach"
	// Store control operations go to the repo control queue, not the repo
	// queue the downloads fill (ControlQueue).
	versionStoreControlQueue = "store-control-queue"
	// A merge conflict's ticket is closed once conflict-resolved and the
	// merge went through (Promotion and MergeBack).
	versionCloseConflictTicket = "close-conflict-ticket"
	// Bypass checks with dnf only the channels it switched, not one that
	// served nothing yet.
	versionBypassCheckSwitched = "bypass-check-switched"
	// Promotion's end-silences step states what Unsilence ended and what
	// remains (with how to end it by hand), not how many were made.
	versionSilencesEnded = "promotion-silences-ended"
	// Promotion notifies at every turn: the approval (who, window), the
	// window's start, each outage step's result, and each comment, which
	// it also publishes on the candidate's page; MergeBack notifies its
	// result.
	versionNotifyTurns = "notify-every-turn"
	// Operator signals decode strictly (exact field names, no unknown
	// fields, right types); one that does not is refused and listed in
	// the status, no longer dropped or taken loosely (Promotion, Bypass,
	// MergeBack, TestCycle).
	versionStrictPayloads = "strict-payloads"
	// A promotion that did not reach production (rejected, canceled before
	// or at its window, superseded) ends failed with the reason, so the
	// Web UI does not show it as a success (promotionUnsuccessful).
	versionPromotionEndsFailed = "promotion-ends-failed"
	// DailySync publishes a release in which a repo that failed to sync
	// (and is not required) keeps its last good snapshot, marked stale,
	// while the others move on; it files one ticket per repo outage and
	// closes it when the repo recovers.
	versionDailySyncStaleRepos = "dailysync-stale-repos"
	// Promotion waits, before it ends, for the operator commands still
	// being handled: since versionNotifyTurns a comment (Update or signal) runs
	// activities (the page, the notification), which a promotion ending
	// beside it cut off. Asked only when one is in flight.
	versionPromotionAwaitsHandlers = "promotion-awaits-handlers"
)
