package activities

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/osflow/osflow/integrations/tickets"
)

// staleFingerprint names the ticket of a repo's outage: one open at a
// time, whatever the day.
func staleFingerprint(repo string) string { return "stale-repo/" + repo }

// staleKey is the operation key of one outage of a repo: the day it
// began, so that every daily sync of the outage finds the same ticket.
func staleKey(s StaleRepo) string {
	return staleFingerprint(s.Repo) + "/" + s.Since.UTC().Format(time.RFC3339)
}

// ReportStaleRepos files one ticket per repo outage (every sync of the
// outage finds the ticket its first one filed, by its key) and closes
// the ticket of each repo that recovered. A retry finds what an earlier
// attempt did.
func (a *TicketActivities) ReportStaleRepos(ctx context.Context, in StaleReposInput) (StaleReposResult, error) {
	res := StaleReposResult{Tickets: map[string]string{}, Closed: map[string]string{}}
	for _, s := range in.Stale {
		id, err := a.fileStale(ctx, in.Release, s)
		if err != nil {
			return res, err
		}
		res.Tickets[s.Repo] = id
	}
	for _, name := range in.Recovered {
		fp := staleFingerprint(name)
		t, err := a.Tracker.FindOpen(ctx, fp)
		if err != nil {
			return res, classifyFailure("find ticket for "+fp, err)
		}
		if t == nil {
			continue
		}
		body := fmt.Sprintf("Repo **%s** synced again: release `%s` serves a fresh snapshot of it.", name, in.Release)
		if err := a.Tracker.Close(ctx, t.ID, tickets.WithMarker(body, fp+"/recovered/"+in.Release)); err != nil {
			return res, classifyFailure("close ticket "+t.ID, err)
		}
		res.Closed[name] = t.ID
	}
	return res, nil
}

// fileStale files the ticket of s's outage, or finds it. A ticket left
// open from an earlier outage gets a comment instead.
func (a *TicketActivities) fileStale(ctx context.Context, release string, s StaleRepo) (string, error) {
	fp, key := staleFingerprint(s.Repo), staleKey(s)
	t, err := a.Tracker.FindOpen(ctx, fp)
	if err != nil {
		return "", classifyFailure("find ticket for "+fp, err)
	}
	body := staleBody(release, s)
	if t != nil {
		has, err := a.Tracker.HasMarker(ctx, t.ID, key)
		if err != nil || has {
			return t.ID, classifyFailure("read ticket "+t.ID, err)
		}
		if err := a.Tracker.Comment(ctx, t.ID, tickets.WithMarker(body, key)); err != nil {
			return "", classifyFailure("comment ticket "+t.ID, err)
		}
		return t.ID, nil
	}
	created, err := a.Tracker.Create(ctx, tickets.NewTicket{
		Fingerprint: fp,
		Title:       fmt.Sprintf("Repo %s cannot sync: releases keep its snapshot of %s", s.Repo, s.Since.UTC().Format("2006-01-02")),
		Body:        tickets.WithMarker(body, key),
		Labels:      a.Config.Tickets.Labels,
	})
	if err != nil {
		return "", classifyFailure("file ticket for "+fp, err)
	}
	return created.ID, nil
}

func staleBody(release string, s StaleRepo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Repo **%s** has failed to sync since %s. Release `%s` and those after it serve its last good snapshot `%s`, "+
		"while the other repos move on.\n\n", s.Repo, s.Since.UTC().Format(time.RFC3339), release, s.Snapshot)
	if s.URL != "" {
		fmt.Fprintf(&b, "URL: %s\n\n", redactURL(s.URL))
	}
	fmt.Fprintf(&b, "```\n%s\n```\n\nThe ticket closes itself when the repo syncs again. "+
		"Set `required: true` on the repo to hold every release while it fails instead.\n", s.Cause)
	return b.String()
}

// renderStale writes the risk report's section on the stale repos: what
// the candidate serves of them is older than its other repos.
func renderStale(b *strings.Builder, stale []StaleRepo) {
	if len(stale) == 0 {
		return
	}
	b.WriteString("\n### Stale repos\n\nThese repos failed to sync; the candidate serves their last good snapshot, " +
		"and none of their updates since:\n\n")
	for _, s := range stale {
		fmt.Fprintf(b, "- **%s**: snapshot `%s`, failing since %s: %s\n", s.Repo, s.Snapshot, s.Since.UTC().Format(time.RFC3339),
			FirstLine(s.Cause))
	}
}

func staleNames(stale []StaleRepo) string {
	names := make([]string, len(stale))
	for i, s := range stale {
		names[i] = s.Repo + " since " + s.Since.UTC().Format("2006-01-02")
	}
	return strings.Join(names, ", ")
}

// FirstLine is s up to its first line break: a cause in a one-line list.
func FirstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
