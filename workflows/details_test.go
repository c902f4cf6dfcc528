package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/activities"
)

// The cycle's and the sync's current details say where they are and, for
// a manual rehearsal task, the command in a code block.
func TestRenderDetails(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  string
		want []string
	}{
		{"cycle waiting for a task", renderCycleDetails(TestCycleState{Phase: PhaseRehearsal, Current: "r2", WaitingFor: "firmware", Frozen: true, FrozenBy: "rehearsal", FrozenReason: "rehearsing"}),
			[]string{"## Test cycle: " + PhaseRehearsal, "Testing serves `r2`", "**frozen** by rehearsal: rehearsing", "```\nosflow task-done firmware --as NAME\n```"}},
		{"cycle with a candidate", renderCycleDetails(TestCycleState{Phase: PhaseCandidate, Current: "r2", Promoted: "r2", LastError: "suite\nsmoke failed"}),
			[]string{"Candidate `r2`: its promotion is `promotion-r2`", "**Last error:** suite smoke failed"}},
		{"sync", renderSyncDetails(DailySyncStatus{Phase: PhaseDone, Release: "r2", Created: true,
			Repos:    []activities.RepoSync{{Repo: "baseos", Snapshot: "s1", Changed: true, Packages: 3, Downloaded: 2}},
			Switches: []activities.ChannelSwitch{{Channel: "daily", From: "r1", To: "r2", Changed: true}, {Channel: "testing", From: "r1", Frozen: true}}}),
			[]string{"## Daily sync: done", "- Release `r2`\n", "Repo baseos: snapshot `s1`, 3 packages, changed, 2 files downloaded", "daily: `r1` → `r2`", "testing is frozen: it stays at `r1`"}},
		{"sync with a stale repo", renderSyncDetails(DailySyncStatus{Phase: PhaseDone, Release: "r3", Created: true,
			Stale: []activities.StaleRepo{{Repo: "epel", Snapshot: "s0", Since: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC), Cause: "mirror epel: 503\nretried"}}}),
			[]string{"Repo epel is **stale**: it keeps snapshot `s0`, failing to sync since 2026-12-01T02:00:00Z: mirror epel: 503 retried"}},
		{"bypass waiting for a signed approval", renderBypassDetails(BypassStatus{Overlay: "site", Phase: PhaseAwaitingApproval}, "bypass-site-1", []string{"alice"}, true),
			[]string{"```\nosflow approve bypass-site-1 --as NAME --key FILE\n```", "```\nosflow reject bypass-site-1 --as NAME --key FILE --comment TEXT\n```"}},
		{"bypass waiting", renderBypassDetails(BypassStatus{Overlay: "site", Phase: PhaseAwaitingApproval, Actor: "cli/alice", Reason: "CVE-1",
			Packages: []activities.StagedRPM{{NEVRA: "openssl-3.0.2-1.x86_64"}}}, "bypass-site-1", []string{"alice", "bob"}, false),
			[]string{"## Bypass into overlay `site`: awaiting-approval", "cli/alice: CVE-1", "`openssl-3.0.2-1.x86_64`", "by one of alice, bob",
				"```\nosflow approve bypass-site-1 --as NAME\n```", "```\nosflow reject bypass-site-1 --as NAME --comment TEXT\n```"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, w := range tc.want {
				require.Contains(t, tc.got, w)
			}
		})
	}
}
