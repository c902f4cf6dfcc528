package activities

import (
	"fmt"
	"strings"
	"time"
)

// RenderRisk writes the risk section of a candidate's page: what the
// outage costs and what differs between the test and production clusters.
func RenderRisk(r RiskReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Risk\n\nProduction serves `%s` now. Estimated outage: **%s**.\n\n", orNothing(r.Production), r.Estimate.Round(time.Second))
	b.WriteString("### Security advisories and fixes\n\n")
	if len(r.Packages.Advisories) == 0 {
		b.WriteString("None found in the upstream updateinfo of the changed repos.\n")
	}
	for _, a := range r.Packages.Advisories {
		sev := a.Severity
		if sev == "" {
			sev = "unrated"
		}
		fmt.Fprintf(&b, "- **%s** (%s, %s, %s) %s", a.ID, a.Type, sev, a.Repo, a.Title)
		if len(a.CVEs) > 0 {
			fmt.Fprintf(&b, " — %s", strings.Join(a.CVEs, ", "))
		}
		b.WriteString("\n")
	}
	if r.Packages.MoreAdvisories > 0 {
		fmt.Fprintf(&b, "- ... and %d more\n", r.Packages.MoreAdvisories)
	}
	renderStale(&b, r.Packages.Stale)
	renderBypasses(&b, "###", r.Packages.Diff.Bypasses)
	renderShadows(&b, "###", r.Packages.Diff)
	d := r.Packages.Diff
	fmt.Fprintf(&b, "\n### Packages, production to candidate\n\n%d added, %d removed, %d upgraded, %d downgraded, %d rebuilt.\n",
		d.Added, d.Removed, d.Upgraded, d.Downgraded, d.Rebuilt)
	if d.Downgraded > 0 || d.Removed > 0 {
		b.WriteString("\n**Downgrades or removals: check them before approving.**\n")
	}
	b.WriteString("\n### Test cluster against production cluster\n\n")
	if len(r.Inventory) == 0 {
		b.WriteString("No inventory configured (`testing.inventory`, `production.inventory`).\n")
	}
	for _, inv := range r.Inventory {
		switch {
		case inv.Error != "":
			fmt.Fprintf(&b, "- **%s**: could not compare: `%s`\n", inv.Name, inv.Error)
		case inv.Same:
			fmt.Fprintf(&b, "- %s: same\n", inv.Name)
		default:
			fmt.Fprintf(&b, "- **%s differs**:\n\n  test:\n  ```\n%s\n  ```\n  production:\n  ```\n%s\n  ```\n", inv.Name, indent(inv.Testing), indent(inv.Production))
		}
	}
	renderGit(&b, "Configuration-management changes to merge (test → production)", r.Config)
	renderGit(&b, "Monitoring changes to merge (test → production)", r.Monitoring)
	fmt.Fprintf(&b, "\n### Open tickets at gate time (%d)\n\n", len(r.Tickets))
	for _, t := range r.Tickets {
		fmt.Fprintf(&b, "- %s %s\n", t.ID, t.Title)
	}
	fmt.Fprintf(&b, "\n### Production users' input (%d)\n\n", len(r.Users))
	for _, t := range r.Users {
		fmt.Fprintf(&b, "- %s %s\n", t.ID, t.Title)
	}
	return b.String()
}

// RenderRiskSummary is the risk report as a notification says it.
func RenderRiskSummary(r RiskReport, promotion string) string {
	var b strings.Builder
	d := r.Packages.Diff
	fmt.Fprintf(&b, "Release %s is ready for production (now %s).\n", r.Release, orNothing(r.Production))
	fmt.Fprintf(&b, "Estimated outage: %s in %d tasks.\n", r.Estimate.Round(time.Second), len(r.Tasks))
	fmt.Fprintf(&b, "Packages: %d upgraded, %d added, %d removed, %d downgraded.\n", d.Upgraded, d.Added, d.Removed, d.Downgraded)
	security := 0
	for _, a := range r.Packages.Advisories {
		if a.Type == "security" {
			security++
		}
	}
	fmt.Fprintf(&b, "Advisories: %d (%d security).\n", len(r.Packages.Advisories)+r.Packages.MoreAdvisories, security)
	if n := len(r.Packages.Stale); n > 0 {
		fmt.Fprintf(&b, "Stale repos (failing to sync, serving an earlier snapshot): %s.\n", staleNames(r.Packages.Stale))
	}
	if n := len(d.Shadows) + d.MoreShadows; n > 0 {
		fmt.Fprintf(&b, "Same NEVRA, different builds: %d (the overlay's build wins; see the risk report).\n", n)
	}
	differs := 0
	for _, inv := range r.Inventory {
		if !inv.Same {
			differs++
		}
	}
	fmt.Fprintf(&b, "Test and production differ in %d of %d inventory items.\n", differs, len(r.Inventory))
	fmt.Fprintf(&b, "Open tickets: %d; production users' tickets: %d.\n", len(r.Tickets), len(r.Users))
	fmt.Fprintf(&b, "\nApprove: osflow approve %s --as NAME --window-start TIME\nReject:  osflow reject %s --as NAME --comment TEXT\n", promotion, promotion)
	return b.String()
}

func orNothing(s string) string {
	if s == "" {
		return "nothing yet"
	}
	return s
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
