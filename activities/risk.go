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
		fmt.Fprintf(&b, "- %s\n", advisoryLine(a, "**"))
		if p := advisoryPackages(a); p != "" {
			fmt.Fprintf(&b, "  packages: %s\n", p)
		}
	}
	if r.Packages.MoreAdvisories > 0 {
		fmt.Fprintf(&b, "- ... and %d more (`osflow repo diff %s %s` lists all)\n", r.Packages.MoreAdvisories, orNothing(r.Packages.Diff.From), r.Release)
	}
	if len(r.Packages.Modules) > 0 {
		b.WriteString("\n### Module streams and defaults\n\n")
		for _, m := range r.Packages.Modules {
			fmt.Fprintf(&b, "- %s\n", m)
		}
		if r.Packages.MoreModules > 0 {
			fmt.Fprintf(&b, "- ... and %d more (`osflow repo diff %s %s` lists all)\n", r.Packages.MoreModules, orNothing(r.Packages.Diff.From), r.Release)
		}
	}
	renderStale(&b, r.Packages.Stale)
	renderBypasses(&b, "###", r.Packages.Diff.Bypasses)
	renderShadows(&b, "###", r.Packages.Diff)
	d := r.Packages.Diff
	b.WriteString("\n### Packages, production to candidate\n\n")
	if d.FromNothing {
		fmt.Fprintf(&b, "First promotion: production serves nothing yet, so the candidate's whole content is new to it: %d packages in %d repos (%s).\n",
			d.Added, len(d.AddedRepos), repoCounts(d.AddedRepos))
	} else {
		fmt.Fprintf(&b, "%d added, %d removed, %d upgraded, %d downgraded, %d rebuilt.\n",
			d.Added, d.Removed, d.Upgraded, d.Downgraded, d.Rebuilt)
		renderRepoChanges(&b, d)
	}
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

// RenderRiskSummary is the risk report as a notification says it;
// signed: decisions must be signed (production.requireSignedApprovals),
// so the commands it shows take --key.
func RenderRiskSummary(r RiskReport, promotion string, signed bool) string {
	var b strings.Builder
	d := r.Packages.Diff
	fmt.Fprintf(&b, "Release %s is ready for production (now %s).\n", r.Release, orNothing(r.Production))
	fmt.Fprintf(&b, "Estimated outage: %s in %d tasks.\n", r.Estimate.Round(time.Second), len(r.Tasks))
	if d.FromNothing {
		fmt.Fprintf(&b, "First promotion: %d packages in %d repos (%s).\n", d.Added, len(d.AddedRepos), repoCounts(d.AddedRepos))
	} else {
		fmt.Fprintf(&b, "Packages: %d upgraded, %d added, %d removed, %d downgraded.\n", d.Upgraded, d.Added, d.Removed, d.Downgraded)
	}
	security := 0
	for _, a := range r.Packages.Advisories {
		if a.Type == "security" {
			security++
		}
	}
	fmt.Fprintf(&b, "Advisories: %d (%d security).\n", len(r.Packages.Advisories)+r.Packages.MoreAdvisories, security)
	if n := len(r.Packages.Modules) + r.Packages.MoreModules; n > 0 {
		fmt.Fprintf(&b, "Module stream and default changes: %d (see the risk report).\n", n)
	}
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
	summaryAdvisories(&b, r.Packages)
	summaryGit(&b, "Configuration-management changes", r.Config)
	summaryGit(&b, "Monitoring changes", r.Monitoring)
	if len(r.Users) > 0 {
		b.WriteString("\nProduction users' input:\n")
		for i, t := range r.Users {
			if i == maxSummaryLines {
				fmt.Fprintf(&b, "- ... and %d more\n", len(r.Users)-i)
				break
			}
			fmt.Fprintf(&b, "- %s %s %s\n", t.ID, t.Title, t.URL)
		}
	}
	as := "--as NAME"
	if signed {
		as += " --key FILE"
	}
	fmt.Fprintf(&b, "\nApprove: osflow approve %s %s --window-start TIME\nReject:  osflow reject %s %s --comment TEXT\n", promotion, as, promotion, as)
	return b.String()
}

// maxSummaryLines bounds each list in the notification: the wiki page
// has them all.
const maxSummaryLines = 20

// summaryAdvisories names the advisories, security first as they come.
func summaryAdvisories(b *strings.Builder, p PackageRisk) {
	if len(p.Advisories) == 0 {
		return
	}
	b.WriteString("\nAdvisories:\n")
	for i, a := range p.Advisories {
		if i == maxSummaryLines {
			fmt.Fprintf(b, "- ... and %d more\n", len(p.Advisories)-i+p.MoreAdvisories)
			return
		}
		fmt.Fprintf(b, "- %s\n", advisoryLine(a, ""))
		if p := advisoryPackages(a); p != "" {
			fmt.Fprintf(b, "  packages: %s\n", p)
		}
	}
	if p.MoreAdvisories > 0 {
		fmt.Fprintf(b, "- ... and %d more\n", p.MoreAdvisories)
	}
}

// summaryGit lists, per repo, the commits the outage merges.
func summaryGit(b *strings.Builder, title string, changes []GitChange) {
	if len(changes) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s (test -> production):\n", title)
	for _, ch := range changes {
		switch {
		case ch.FetchError != "":
			fmt.Fprintf(b, "- %s: could not read the repository: %s\n", ch.Repo, ch.FetchError)
			continue
		case len(ch.Commits) == 0 && len(ch.Reapplied) == 0:
			fmt.Fprintf(b, "- %s: nothing to merge\n", ch.Repo)
			continue
		}
		fmt.Fprintf(b, "- %s (%s -> %s):\n", ch.Repo, ch.Head, ch.Base)
		for i, c := range ch.Commits {
			if i == maxSummaryLines {
				fmt.Fprintf(b, "  - ... and %d more\n", len(ch.Commits)-i)
				break
			}
			fmt.Fprintf(b, "  - %s\n", c)
		}
		for _, c := range ch.Reapplied {
			fmt.Fprintf(b, "  - reapplied: revert %s\n", c)
		}
		if len(ch.Conflicts) > 0 {
			fmt.Fprintf(b, "  - CONFLICTS in %s: the outage waits for a merge by hand\n", strings.Join(ch.Conflicts, ", "))
		}
	}
}

// advisoryLine names an advisory: ID (type, severity, repos) title — CVEs,
// the ID between emph.
func advisoryLine(a Advisory, emph string) string {
	sev := a.Severity
	if sev == "" {
		sev = "unrated"
	}
	about := []string{a.Type, sev}
	if a.Repo != "" {
		about = append(about, a.Repo)
	}
	line := fmt.Sprintf("%s%s%s (%s) %s", emph, a.ID, emph, strings.Join(about, ", "), a.Title)
	if len(a.CVEs) > 0 {
		line += " — " + strings.Join(a.CVEs, ", ")
	}
	return line
}

// advisoryPackages lists the builds that carry an advisory's fix.
func advisoryPackages(a Advisory) string {
	if len(a.Packages) == 0 {
		return ""
	}
	s := "`" + strings.Join(a.Packages, "`, `") + "`"
	if a.MorePackages > 0 {
		s += fmt.Sprintf(" and %d more", a.MorePackages)
	}
	return s
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

// RenderComments lists the people's comments on a promotion under
// heading; nothing when there are none.
func RenderComments(comments []Comment, heading string) string {
	if len(comments) == 0 {
		return ""
	}
	var b strings.Builder
	if heading == "" {
		heading = "\nComments:\n"
	}
	b.WriteString(heading)
	for _, c := range comments {
		fmt.Fprintf(&b, "- %s, %s: %s\n", c.By, c.At.UTC().Format("2006-01-02 15:04 UTC"), indentAfterFirst(c.Text))
	}
	return b.String()
}

// indentAfterFirst keeps a multi-line comment inside its list item.
func indentAfterFirst(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}
