package activities

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/scm"
	"github.com/osflow/osflow/integrations/tickets"
	"github.com/osflow/osflow/integrations/wiki"
)

// CandidateActivities assemble the release candidate's outputs: config
// and monitoring changes from git, the open tickets, and the wiki page.
type CandidateActivities struct {
	Config  *config.Config
	Tracker tickets.Tracker
	// CacheDir holds the git clones, one per configured repo.
	CacheDir string
	// HeartbeatEvery is how often Assemble heartbeats; zero: every 10s.
	HeartbeatEvery time.Duration
}

// maxPatchBytes bounds what a git diff contributes to the candidate page.
const maxPatchBytes = 64 << 10

// maxCommits bounds the commits a candidate lists per repo: the candidate
// travels through workflow history.
const maxCommits = 50

// Assemble gathers the five outputs into a candidate and publishes its
// wiki page. Publishing the same page twice changes nothing, so a retry is
// harmless.
func (a *CandidateActivities) Assemble(ctx context.Context, in CandidateInput) (Candidate, error) {
	defer heartbeatEvery(ctx, cmp.Or(a.HeartbeatEvery, defaultHeartbeatEvery), nil)()
	c := Candidate{Release: in.Release, Production: in.Production, Diff: in.Diff, Tasks: in.Tasks, Rounds: in.Rounds, Gate: in.Gate}
	for _, t := range in.Tasks {
		c.TotalEstimate += max(t.Measured, t.Expected)
	}
	c.Config = gitChanges(ctx, a.CacheDir, "config", a.Config.Git.Config)
	c.Monitoring = gitChanges(ctx, a.CacheDir, "monitoring", a.Config.Git.Monitoring)
	// A ticket file broken by hand is named on the page, not a reason to
	// hold the candidate.
	open, unreadable, err := tickets.ListOpenReadable(ctx, a.Tracker)
	if err != nil {
		return c, classifyFailure("list open tickets", err)
	}
	c.UnreadableTickets = unreadable
	for _, t := range open {
		c.OpenTickets = append(c.OpenTickets, TicketRef{ID: t.ID, Title: t.Title, URL: t.URL})
	}
	if a.Config.Wiki.URL == "" {
		return c, nil
	}
	w := &wiki.Wiki{Repo: gitRepo(a.CacheDir, "wiki", a.Config.Wiki.URL), Branch: a.Config.Wiki.Branch, BaseURL: a.Config.Wiki.PageURL}
	pub, err := w.Publish(ctx, "Release "+in.Release, RenderCandidate(c), "osflow: candidate "+in.Release)
	if err != nil {
		// Refused credentials or a missing wiki repo do not fix themselves.
		return c, classifyGit("publish candidate page for "+in.Release, err)
	}
	c.WikiPage, c.WikiURL = pub.Page, pub.URL
	return c, nil
}

// gitRepo is the clone of one remote in the worker's cache.
func gitRepo(cacheDir, name, url string) *scm.Repo {
	return &scm.Repo{URL: url, CacheDir: filepath.Join(cacheDir, name), Author: "osflow <osflow@localhost>"}
}

// gitChanges previews each repo's merge of its test branch into
// production: the commits it brings, the reverts of tested changes it
// undoes and production's own commits. A repo that cannot be read is
// reported on the page, not hidden.
func gitChanges(ctx context.Context, cacheDir, kind string, repos []config.GitRepo) []GitChange {
	var out []GitChange
	for _, gr := range repos {
		ch := GitChange{Repo: gr.Name, Kind: kind, Base: gr.ProductionBranch, Head: gr.TestBranch}
		r := gitRepo(cacheDir, kind+"-"+gr.Name, gr.URL)
		p, err := r.PreviewMerge(ctx, gr.TestBranch, gr.ProductionBranch, gr.TestBranch, maxPatchBytes)
		if err != nil {
			ch.FetchError = err.Error()
		}
		ch.Stat, ch.Truncated, ch.Conflicts = p.Stat, p.Truncated, p.Conflicts
		ch.Commits = commitLines(p.Commits, "git log "+gr.ProductionBranch+".."+gr.TestBranch)
		ch.Reapplied = commitLines(p.Reapplied, "")
		ch.OnlyProduction = commitLines(p.OnlyInto, "git log "+gr.TestBranch+".."+gr.ProductionBranch)
		out = append(out, ch)
	}
	return out
}

// commitLines names commits for the page, at most maxCommits of them;
// more says where to see the rest.
func commitLines(commits []scm.Commit, more string) []string {
	var out []string
	for i, cm := range commits {
		if i == maxCommits {
			out = append(out, fmt.Sprintf("... and %d more (%s)", len(commits)-maxCommits, more))
			break
		}
		line := fmt.Sprintf("%.10s %s", cm.Hash, cm.Subject)
		if cm.Author != "" {
			line += " (" + cm.Author + ")"
		}
		out = append(out, line)
	}
	return out
}

// RenderCandidate writes the candidate page: what management reads before
// approving the outage.
func RenderCandidate(c Candidate) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Release %s\n\nCandidate for `%s`, prepared by osflow.\n\n", c.Release, c.Production)
	fmt.Fprintf(&b, "## Package changes against %s\n\n", c.Production)
	if c.Diff.FromNothing {
		fmt.Fprintf(&b, "First promotion: %s serves nothing yet, so the release's whole content is new to it: %d packages in %d repos (%s).\n\n",
			c.Production, c.Diff.Added, len(c.Diff.AddedRepos), repoCounts(c.Diff.AddedRepos))
	} else {
		fmt.Fprintf(&b, "%d added, %d removed, %d upgraded, %d downgraded, %d rebuilt.\n",
			c.Diff.Added, c.Diff.Removed, c.Diff.Upgraded, c.Diff.Downgraded, c.Diff.Rebuilt)
		renderRepoChanges(&b, c.Diff)
		b.WriteString("\n")
	}
	if len(c.Diff.Lines) > 0 {
		b.WriteString("```\n" + strings.Join(c.Diff.Lines, "\n") + "\n```\n")
		if c.Diff.Truncated {
			fmt.Fprintf(&b, "\n(list truncated; `osflow repo diff %s %s` shows all)\n", c.Production, c.Release)
		}
	}
	renderBypasses(&b, "##", c.Diff.Bypasses)
	renderShadows(&b, "##", c.Diff)
	fmt.Fprintf(&b, "\n## Outage tasks\n\nMeasured on the test cluster. Estimated outage: **%s**.\n\n", c.TotalEstimate.Round(time.Second))
	b.WriteString("| task | where | kind | expected | measured | done by |\n|---|---|---|---|---|---|\n")
	for _, t := range c.Tasks {
		kind := "command"
		if t.Manual {
			kind = "manual"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", t.Task, t.Where, kind, t.Expected, t.Measured.Round(time.Second), t.By)
	}
	renderGit(&b, "Configuration-management changes", c.Config)
	renderGit(&b, "Monitoring changes", c.Monitoring)
	fmt.Fprintf(&b, "\n## Open tickets (%d)\n\n", len(c.OpenTickets))
	if len(c.OpenTickets) == 0 {
		b.WriteString("None.\n")
	}
	for _, t := range c.OpenTickets {
		if t.URL != "" {
			fmt.Fprintf(&b, "- [%s](%s) %s\n", t.ID, t.URL, t.Title)
		} else {
			fmt.Fprintf(&b, "- %s %s\n", t.ID, t.Title)
		}
	}
	renderUnreadable(&b, c.UnreadableTickets)
	return b.String()
}

// repoCounts names repos with their package counts: "baseos 80, epel 25".
func repoCounts(repos []RepoCount) string {
	parts := make([]string, len(repos))
	for i, r := range repos {
		parts[i] = fmt.Sprintf("%s %d", r.Repo, r.Packages)
	}
	return strings.Join(parts, ", ")
}

// renderRepoChanges says which repos a diff adds or removes, with their
// packages, which the counts before it include.
func renderRepoChanges(b *strings.Builder, d DiffSummary) {
	if len(d.AddedRepos) > 0 {
		fmt.Fprintf(b, "New repos (their packages counted as added): %s.\n", repoCounts(d.AddedRepos))
	}
	if len(d.RemovedRepos) > 0 {
		fmt.Fprintf(b, "Removed repos (their packages counted as removed): %s.\n", repoCounts(d.RemovedRepos))
	}
}

// renderBypasses lists the emergency bypasses since the last promotion
// under a heading of the given level, if there were any.
func renderBypasses(b *strings.Builder, level string, bypasses []BypassNote) {
	if len(bypasses) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s Emergency bypasses since the last promotion\n\n", level)
	b.WriteString("These reached production without a test cycle; a switch carries each into the release it switches to unless that release's overlay snapshot is newer.\n\n")
	for _, bp := range bypasses {
		fmt.Fprintf(b, "- %s `%s` into %s by %s: %s (%s)\n", bp.Time.UTC().Format("2006-01-02 15:04Z"), strings.Join(bp.Packages, "`, `"),
			bp.Overlay, bp.Actor, bp.Reason, bp.ID)
	}
}

// renderShadows lists the NEVRAs the diff's target serves as different
// builds under a heading of the given level, if there are any.
func renderShadows(b *strings.Builder, level string, d DiffSummary) {
	if len(d.Shadows) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s Same NEVRA, different builds\n\n", level)
	fmt.Fprintf(b, "Repos of %s serve these packages as different builds under one name, version and release. "+
		"Nodes install the overlay's: `osflow repo files` gives overlays a lower dnf cost (%d, mirrors 1000). "+
		"Where no single overlay serves one, dnf may install any of them. Check that the build nodes get is the one wanted.\n\n", d.To, repo.OverlayCost)
	for _, sh := range d.Shadows {
		fmt.Fprintf(b, "- %s\n", sh)
	}
	if d.MoreShadows > 0 {
		fmt.Fprintf(b, "- ... and %d more (`osflow repo diff %s %s` lists all)\n", d.MoreShadows, d.From, d.To)
	}
}

func renderGit(b *strings.Builder, title string, changes []GitChange) {
	fmt.Fprintf(b, "\n## %s\n\n", title)
	if len(changes) == 0 {
		b.WriteString("No repositories configured.\n")
	}
	for _, ch := range changes {
		fmt.Fprintf(b, "### %s (%s → %s)\n\n", ch.Repo, ch.Head, ch.Base)
		if ch.FetchError != "" {
			fmt.Fprintf(b, "Could not read the repository: `%s`\n\n", ch.FetchError)
			continue
		}
		if len(ch.Commits) == 0 && len(ch.Reapplied) == 0 && ch.Stat == "" && len(ch.Conflicts) == 0 {
			b.WriteString("No changes to merge.\n")
		}
		for _, cm := range ch.Commits {
			fmt.Fprintf(b, "- %s\n", cm)
		}
		if len(ch.Reapplied) > 0 {
			fmt.Fprintf(b, "\nReapplied: tested changes that these reverts on %s undid (a failed promotion's rollback) come back:\n\n", ch.Base)
			for _, cm := range ch.Reapplied {
				fmt.Fprintf(b, "- revert %s\n", cm)
			}
		}
		if len(ch.Conflicts) > 0 {
			fmt.Fprintf(b, "\n**The merge conflicts** in `%s`: the outage will wait for it to be merged by hand.\n", strings.Join(ch.Conflicts, "`, `"))
		}
		if ch.Stat != "" {
			b.WriteString("\n```\n" + ch.Stat + "\n```\n")
		}
		if len(ch.OnlyProduction) > 0 {
			fmt.Fprintf(b, "\nOnly on %s (they stay):\n\n", ch.Base)
			for _, cm := range ch.OnlyProduction {
				fmt.Fprintf(b, "- %s\n", cm)
			}
		}
		b.WriteString("\n")
	}
}

// renderUnreadable names the ticket files skipped because they do not
// parse, so that someone fixes them.
func renderUnreadable(b *strings.Builder, errs []string) {
	if len(errs) == 0 {
		return
	}
	fmt.Fprintf(b, "\n**%d ticket files could not be read and were skipped** (fix them by hand):\n\n", len(errs))
	for _, e := range errs {
		fmt.Fprintf(b, "- `%s`\n", e)
	}
}
