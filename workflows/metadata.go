package workflows

import (
	"cmp"
	"fmt"
	"path"
	"strings"
)

// Metadata is a workflow's static summary and details, set when it starts:
// the Web UI shows them at the top of the run and lists the summary.
type Metadata struct {
	Summary string
	Details string
}

// PromotionMetadata describes the promotion of release.
func PromotionMetadata(release string) Metadata {
	id := PromotionWorkflowID(release)
	return Metadata{
		Summary: fmt.Sprintf("Promotion of release %s to production", release),
		// The Web UI shows the top of the details: the commands come first.
		Details: fmt.Sprintf("Approve or reject (the current details say what it waits for):\n\n```\n%s\n```\n\n```\n%s\n```\n\n"+
			"Takes the tested release `%s` to production: the risk report, an approved outage window, "+
			"then silences, backup, the switch, the config and monitoring merges, the outage tasks and a verification, "+
			"undone in reverse if a step fails. `osflow status` shows it.\n", approveCommand(id, false), rejectCommand(id, false), release),
	}
}

// BypassMetadata describes an emergency bypass.
func BypassMetadata(in BypassInput) Metadata {
	var b strings.Builder
	fmt.Fprintf(&b, "Pushes these packages into overlay `%s` and straight to testing and production, asked for by %s:\n\n", in.Overlay, in.Actor)
	for _, p := range in.Packages {
		fmt.Fprintf(&b, "- `%s`\n", path.Base(cmp.Or(p.Path, p.URL)))
	}
	fmt.Fprintf(&b, "\nReason: %s\n", oneLine(in.Reason))
	return Metadata{
		Summary: fmt.Sprintf("Emergency bypass into overlay %s: %d packages (%s)", in.Overlay, len(in.Packages), oneLine(in.Reason)),
		Details: b.String(),
	}
}

// TestCycleMetadata describes the test cycle.
func TestCycleMetadata() Metadata {
	return Metadata{
		Summary: "Test cycle: integration tests of what testing serves, until the gate passes",
		Details: "Tests every release testing serves, files a ticket per failure, rehearses the outage tasks and makes " +
			"the release a candidate once the gate passes; the candidate's promotion starts then.\n\n" +
			"```\nosflow status\n```\n",
	}
}

// DailySyncMetadata describes a daily sync asked for by actor.
func DailySyncMetadata(actor string) Metadata {
	if actor == "" {
		actor = "the schedule " + DailySyncScheduleID
	}
	return Metadata{
		Summary: "Daily sync of the upstream repos (by " + actor + ")",
		Details: "Mirrors every configured repo into the store, makes a release of the snapshots and switches daily " +
			"(and testing, unless it is frozen) to it; the test cycle is told.\n\n```\nosflow sync --wait\n```\n",
	}
}
