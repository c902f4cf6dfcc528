package activities

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/backup"
	"github.com/osflow/osflow/integrations/ci"
	"github.com/osflow/osflow/integrations/monitoring"
	"github.com/osflow/osflow/integrations/notify"
	"github.com/osflow/osflow/integrations/scm"
	"github.com/osflow/osflow/integrations/tickets"
	"github.com/osflow/osflow/integrations/wiki"
)

// PromotionActivities are the production phase's calls to the systems
// around the store: trackers, wiki, notifications, monitoring, backup and
// the config-management and monitoring git repos. Each side effect takes
// an operation key and a retry with the same key finds what the first
// attempt did.
type PromotionActivities struct {
	Config  *config.Config
	Tracker tickets.Tracker
	// Users is the production users' own tracker; nil when their tickets
	// carry a label on Tracker.
	Users    tickets.Tracker
	Notifier notify.Notifier
	Silencer monitoring.Silencer
	Backup   backup.Runner
	// CacheDir holds the git clones.
	CacheDir string
	// HeartbeatEvery is how often a git, wiki, tracker or inventory call
	// heartbeats while it works; zero: every 10s.
	HeartbeatEvery time.Duration

	// gitCrash is set by the crash-point tests only: the hook of every git
	// repo these activities push to (scm.Repo.Crash).
	gitCrash func(point string) error
}

// keepAlive heartbeats for a call that may outlast its heartbeat timeout
// (a slow push, a hook, a rate-limited tracker) until the returned stop.
func (a *PromotionActivities) keepAlive(ctx context.Context) (stop func()) {
	return heartbeatEvery(ctx, cmp.Or(a.HeartbeatEvery, defaultHeartbeatEvery), nil)
}

// defaultHeartbeatEvery fits well inside the 2-minute heartbeat timeout of
// these calls and is what the SDK sends at most anyway.
const defaultHeartbeatEvery = 10 * time.Second

// maxUserTickets bounds the user tickets a promotion carries in history.
const maxUserTickets = 50

// UserTickets lists the open tickets of production users: their input to
// the promotion, linked from its page and handed to the next cycle.
func (a *PromotionActivities) UserTickets(ctx context.Context) ([]TicketRef, error) {
	defer a.keepAlive(ctx)()
	u := a.Config.Production.UserTickets
	if u == nil {
		return nil, nil
	}
	tr, labels := a.Users, []string(nil)
	if tr == nil {
		tr, labels = a.Tracker, []string{u.Label}
	}
	open, unreadable, err := tickets.ListOpenReadable(ctx, tr, labels...)
	if err != nil {
		return nil, classifyFailure("list production users' tickets", err)
	}
	var out []TicketRef
	for _, e := range unreadable {
		out = append(out, TicketRef{Title: "skipped, does not parse: " + e})
	}
	for _, t := range open {
		if len(out) == maxUserTickets {
			out = append(out, TicketRef{Title: fmt.Sprintf("... and %d more", len(open)-maxUserTickets)})
			break
		}
		out = append(out, TicketRef{ID: t.ID, Title: t.Title, URL: t.URL})
	}
	return out, nil
}

// Inventory compares the facts configured for the test and production
// clusters, by name: the differences are risks.
func (a *PromotionActivities) Inventory(ctx context.Context) ([]InventoryDiff, error) {
	defer a.keepAlive(ctx)()
	prod := map[string]config.InventoryItem{}
	for _, it := range a.Config.Production.Inventory {
		prod[it.Name] = it
	}
	var out []InventoryDiff
	for _, t := range a.Config.Testing.Inventory {
		p, ok := prod[t.Name]
		if !ok {
			continue
		}
		d := InventoryDiff{Name: t.Name}
		var terr, perr error
		d.Testing, terr = readFact(ctx, t)
		d.Production, perr = readFact(ctx, p)
		if err := errors.Join(terr, perr); err != nil {
			d.Error = err.Error()
		}
		d.Same = d.Error == "" && d.Testing == d.Production
		out = append(out, d)
	}
	return out, nil
}

// maxFact bounds what one inventory fact contributes to the report.
const maxFact = 8 << 10

func readFact(ctx context.Context, it config.InventoryItem) (string, error) {
	if it.File != "" {
		b, err := os.ReadFile(it.File)
		if err != nil {
			return "", fmt.Errorf("inventory %s: %w", it.Name, err)
		}
		return truncate(string(bytes.TrimSpace(b)), maxFact), nil
	}
	run, err := ci.Task{Name: "inventory " + it.Name, Argv: it.Command, Timeout: 2 * time.Minute}.Run(ctx)
	if err != nil {
		return "", err
	}
	return truncate(strings.TrimSpace(run.Output), maxFact), nil
}

// GitChanges reads what each config and monitoring repo's test branch
// holds that production does not, now.
func (a *PromotionActivities) GitChanges(ctx context.Context) ([][]GitChange, error) {
	defer a.keepAlive(ctx)()
	return [][]GitChange{
		gitChanges(ctx, a.CacheDir, "config", a.Config.Git.Config),
		gitChanges(ctx, a.CacheDir, "monitoring", a.Config.Git.Monitoring),
	}, nil
}

// PublishRisk publishes the candidate page with its risk section and
// sends the report. Publishing the same page again changes nothing, and
// the notification goes once per key.
func (a *PromotionActivities) PublishRisk(ctx context.Context, in PublishRiskInput) (Published, error) {
	defer a.keepAlive(ctx)()
	pub, err := a.PublishCandidatePage(ctx, in)
	if err != nil {
		return pub, err
	}
	text := RenderRiskSummary(in.Risk, in.Promotion, a.Config.Production.RequireSignedApprovals) + RenderComments(in.Comments, "")
	switch {
	case pub.URL != "":
		text += "\nFull report: " + pub.URL + "\n"
	case pub.Page != "":
		text += "\nFull report: the wiki page " + pub.Page + " (" + a.Config.Wiki.URL + ")\n"
	}
	err = a.Notify(ctx, NotifyInput{Key: in.Key, Subject: fmt.Sprintf("osflow: release %s is ready for production (risk report)", in.Candidate.Release), Text: text})
	return pub, err
}

// PublishCandidatePage publishes the candidate page with its risk section
// and the comments so far, without a notification: publishing the same
// page again changes nothing.
func (a *PromotionActivities) PublishCandidatePage(ctx context.Context, in PublishRiskInput) (Published, error) {
	defer a.keepAlive(ctx)()
	page := RenderCandidate(in.Candidate) + RenderRisk(in.Risk) + RenderComments(in.Comments, "\n## Comments\n\n")
	return a.publish(ctx, "Release "+in.Candidate.Release, page, "osflow: risk report of "+in.Candidate.Release)
}

// PublishOutcome publishes the outage report page.
func (a *PromotionActivities) PublishOutcome(ctx context.Context, in OutcomeInput) (Published, error) {
	defer a.keepAlive(ctx)()
	return a.publish(ctx, "Outage "+in.Release, in.Page, "osflow: outage of "+in.Release+" ("+in.Promotion+")")
}

func (a *PromotionActivities) publish(ctx context.Context, title, page, message string) (Published, error) {
	if a.Config.Wiki.URL == "" {
		return Published{}, nil
	}
	repo := gitRepo(a.CacheDir, "wiki", a.Config.Wiki.URL)
	repo.Crash = a.gitCrash
	w := &wiki.Wiki{Repo: repo, Branch: a.Config.Wiki.Branch, BaseURL: a.Config.Wiki.PageURL}
	pub, err := w.Publish(ctx, title, page, message)
	if err != nil {
		return Published{}, classifyGit("publish wiki page "+title, err)
	}
	return Published{Page: pub.Page, URL: pub.URL}, nil
}

// Notify sends one message through the configured channels, once per key.
func (a *PromotionActivities) Notify(ctx context.Context, in NotifyInput) error {
	err := a.Notifier.Send(ctx, notify.Message{Key: in.Key, Subject: in.Subject, Text: redactor(a.Config)(in.Text)})
	return classifyFailure("notify "+in.Subject, err)
}

// Silence silences monitoring for the window; a retry with the same key
// returns the silences the first attempt made.
func (a *PromotionActivities) Silence(ctx context.Context, in SilenceInput) ([]string, error) {
	defer heartbeatEvery(ctx, 10*time.Second, nil)()
	ids, err := a.Silencer.Silence(ctx, in.Key, monitoring.Window{Start: in.Start, End: in.End}, in.Comment)
	return ids, classifyFailure("silence monitoring", err)
}

// UnsilenceResult is what ending a key's silences did.
type UnsilenceResult = monitoring.Expired

// ErrTypeSilencesRemain is Unsilence's error when the monitoring system
// still holds silences of the key after Expire: retried, and its details
// carry the UnsilenceResult, for the report when it persists.
const ErrTypeSilencesRemain = "SilencesRemain"

// Unsilence ends the silences of a key and says which it ended; ending
// none is not an error, one still in force after Expire is (retried).
func (a *PromotionActivities) Unsilence(ctx context.Context, in KeyInput) (UnsilenceResult, error) {
	defer heartbeatEvery(ctx, 10*time.Second, nil)()
	res, err := a.Silencer.Expire(ctx, in.Key)
	if err != nil {
		return UnsilenceResult{}, classifyFailure("end silences", err)
	}
	if len(res.Remaining) > 0 {
		return res, temporal.NewApplicationError("end silences: "+res.Summary(nil), ErrTypeSilencesRemain, res)
	}
	return res, nil
}

// RunBackup runs the configured backup job, or finds the one an earlier
// attempt with the same key started, and waits for it, heartbeating its
// state.
func (a *PromotionActivities) RunBackup(ctx context.Context, in KeyInput) (BackupResult, error) {
	job, err := a.Backup.Run(ctx, in.Key, func(j backup.Job) {
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, BackupResult{JobID: fmt.Sprint(j.ID), Status: j.StatusText()})
		}
	})
	res := BackupResult{JobID: fmt.Sprint(job.ID), Status: job.StatusText()}
	if job.Status == "" {
		res.Status = "not configured"
	}
	return res, classifyFailure("backup", err)
}

// Merge merges one repo's From branch into Into with a merge commit whose
// message names the release, the promotion and the key. A conflict is a
// result (Conflicts), not an error: the workflow files it and waits. A
// retry after the first attempt pushed finds that merge by its key.
func (a *PromotionActivities) Merge(ctx context.Context, in MergeInput) (MergeRecord, error) {
	defer a.keepAlive(ctx)()
	r, gr, err := a.gitRepo(in.Repo)
	if err != nil {
		return MergeRecord{}, err
	}
	rec := MergeRecord{Repo: in.Repo, Into: in.Into}
	message := in.Message + "\n\n" + opMarker(in.Key)
	// Test → production and production → test alike keep the test
	// branch's state: no revert of a tested change survives the merge.
	res, err := r.Merge(ctx, in.From, in.Into, gr.TestBranch, message)
	if errors.Is(err, scm.ErrConflict) {
		rec.Conflicts = res.Conflicts
		return rec, nil
	}
	if err != nil {
		return rec, classifyGit("merge "+in.From+" into "+in.Into+" in "+in.Repo, err)
	}
	if !res.AlreadyMerged {
		rec.Commit, rec.Reapplied = res.Commit, commitLines(res.Reapplied, "")
		return rec, nil
	}
	// Already merged: by this operation's first attempt, or before it. The
	// first attempt's answer, the reverts it reapplied included, is in the
	// message of the merge it pushed.
	found, err := r.FindMerge(ctx, in.Into, opMarker(in.Key))
	rec.Commit, rec.Reapplied = found.Commit, commitLines(found.Reapplied, "")
	return rec, classifyGit("find the merge of "+in.Key, err)
}

// Revert undoes a merge on its branch with a revert commit; reverting what
// is reverted pushes nothing.
func (a *PromotionActivities) Revert(ctx context.Context, in RevertInput) (string, error) {
	defer a.keepAlive(ctx)()
	r, _, err := a.gitRepo(in.Repo)
	if err != nil {
		return "", err
	}
	head, err := r.Revert(ctx, in.Branch, in.Commit, in.Message)
	return head, classifyGit("revert "+in.Commit+" on "+in.Branch+" in "+in.Repo, err)
}

// FileTicket files a ticket (or comments on the open one with the same
// fingerprint) with the key's marker; a retry finds it.
func (a *PromotionActivities) FileTicket(ctx context.Context, in TicketInput) (TicketRef, error) {
	defer a.keepAlive(ctx)()
	redact := redactor(a.Config)
	if t, err := a.Tracker.FindOpen(ctx, in.Fingerprint); err != nil {
		return TicketRef{}, classifyFailure("find ticket "+in.Fingerprint, err)
	} else if t != nil && in.Key != "" {
		done, err := a.Tracker.HasMarker(ctx, t.ID, in.Key)
		if err != nil {
			return TicketRef{}, classifyFailure("read ticket "+t.ID, err)
		}
		if done {
			return TicketRef{ID: t.ID, Title: t.Title, URL: t.URL}, nil
		}
	}
	body := tickets.WithMarker(redact(in.Body), in.Key)
	t, _, err := tickets.FileOrComment(ctx, a.Tracker, tickets.NewTicket{
		Fingerprint: in.Fingerprint, Title: in.Title, Body: body, Labels: append(a.Config.Tickets.Labels, in.Labels...),
	}, body)
	if err != nil {
		return TicketRef{}, classifyFailure("file ticket "+in.Fingerprint, err)
	}
	return TicketRef{ID: t.ID, Title: t.Title, URL: t.URL}, nil
}

// CloseTicket closes a ticket with a comment; closing a closed ticket is
// not an error, so a retry is harmless.
func (a *PromotionActivities) CloseTicket(ctx context.Context, in CloseTicketInput) error {
	defer a.keepAlive(ctx)()
	if in.ID == "" {
		return invalid("CloseTicket: no ticket ID")
	}
	return classifyFailure("close ticket "+in.ID, a.Tracker.Close(ctx, in.ID, redactor(a.Config)(in.Comment)))
}

func (a *PromotionActivities) gitRepo(name string) (*scm.Repo, config.GitRepo, error) {
	for _, kind := range []struct {
		kind  string
		repos []config.GitRepo
	}{{"config", a.Config.Git.Config}, {"monitoring", a.Config.Git.Monitoring}} {
		for _, r := range kind.repos {
			if r.Name == name {
				repo := gitRepo(a.CacheDir, kind.kind+"-"+r.Name, r.URL)
				repo.Crash = a.gitCrash
				return repo, r, nil
			}
		}
	}
	return nil, config.GitRepo{}, invalid(fmt.Sprintf("git repo %q is not in the worker's configuration %s", name, a.Config.Path))
}

// opMarker is the line a git commit carries to name its operation.
func opMarker(key string) string { return "osflow-op: " + key }

// classifyGit maps a git integration error: refused credentials, a missing
// remote or branch, bad input and conflicts need a person.
func classifyGit(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, scm.ErrAuth), errors.Is(err, scm.ErrNotFound), errors.Is(err, scm.ErrInvalid), errors.Is(err, scm.ErrConflict):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", what, err), ErrTypeInvalidInput, nil)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}
