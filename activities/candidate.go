package activities

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/osflow/osflow/config"
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
	open, err := a.Tracker.ListOpen(ctx)
	if err != nil {
		return c, classifyFailure("list open tickets", err)
	}
	for _, t := range open {
		c.OpenTickets = append(c.OpenTickets, TicketRef{ID: t.ID, Title: t.Title, URL: t.URL})
	}
	if a.Config.Wiki.URL == "" {
		return c, nil
	}
	w := &wiki.Wiki{Repo: gitRepo(a.CacheDir, "wiki", a.Config.Wiki.URL), Branch: a.Config.Wiki.Branch, BaseURL: a.Config.Wiki.PageURL}
	pub, err := w.Publish(ctx, "Release "+in.Release, RenderCandidate(c), "osflow: candidate "+in.Release)
	if err != nil {
		return c, fmt.Errorf("publish candidate page for %s: %w", in.Release, err)
	}
	c.WikiPage, c.WikiURL = pub.Page, pub.URL
	return c, nil
}

// gitRepo is the clone of one remote in the worker's cache.
func gitRepo(cacheDir, name, url string) *scm.Repo {
	return &scm.Repo{URL: url, CacheDir: filepath.Join(cacheDir, name), Author: "osflow <osflow@localhost>"}
}

// gitChanges reads what each repo's test branch holds that production
// does not. A repo that cannot be read is reported on the page, not hidden.
func gitChanges(ctx context.Context, cacheDir, kind string, repos []config.GitRepo) []GitChange {
	var out []GitChange
	for _, gr := range repos {
		ch := GitChange{Repo: gr.Name, Kind: kind, Base: gr.ProductionBranch, Head: gr.TestBranch}
		r := gitRepo(cacheDir, kind+"-"+gr.Name, gr.URL)
		err := r.Fetch(ctx)
		var commits []scm.Commit
		if err == nil {
			commits, err = r.Log(ctx, gr.ProductionBranch, gr.TestBranch)
		}
		if err == nil {
			ch.Stat, _, ch.Truncated, err = r.Diff(ctx, gr.ProductionBranch, gr.TestBranch, maxPatchBytes)
		}
		if err != nil {
			ch.FetchError = err.Error()
		}
		for i, cm := range commits {
			if i == maxCommits {
				ch.Commits = append(ch.Commits, fmt.Sprintf("... and %d more (git log %s..%s)", len(commits)-maxCommits, gr.ProductionBranch, gr.TestBranch))
				break
			}
			ch.Commits = append(ch.Commits, fmt.Sprintf("%.10s %s (%s)", cm.Hash, cm.Subject, cm.Author))
		}
		out = append(out, ch)
	}
	return out
}

// RenderCandidate writes the candidate page: what management reads before
// approving the outage.
func RenderCandidate(c Candidate) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Release %s\n\nCandidate for `%s`, prepared by osflow.\n\n", c.Release, c.Production)
	fmt.Fprintf(&b, "## Package changes against %s\n\n", c.Production)
	fmt.Fprintf(&b, "%d added, %d removed, %d upgraded, %d downgraded, %d rebuilt.\n\n",
		c.Diff.Added, c.Diff.Removed, c.Diff.Upgraded, c.Diff.Downgraded, c.Diff.Rebuilt)
	if len(c.Diff.Lines) > 0 {
		b.WriteString("```\n" + strings.Join(c.Diff.Lines, "\n") + "\n```\n")
		if c.Diff.Truncated {
			fmt.Fprintf(&b, "\n(list truncated; `osflow repo diff %s %s` shows all)\n", c.Production, c.Release)
		}
	}
	renderBypasses(&b, "##", c.Diff.Bypasses)
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
	return b.String()
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
		if len(ch.Commits) == 0 {
			b.WriteString("No changes to merge.\n\n")
			continue
		}
		for _, cm := range ch.Commits {
			fmt.Fprintf(b, "- %s\n", cm)
		}
		if ch.Stat != "" {
			b.WriteString("\n```\n" + ch.Stat + "\n```\n\n")
		}
	}
}
