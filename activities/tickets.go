package activities

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/activity"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/tickets"
)

// ErrTypeRateLimited marks a tracker rate limit; the retry waits as long
// as the server asked.
const ErrTypeRateLimited = "RateLimited"

// TicketActivities file integration-test failures as tickets.
type TicketActivities struct {
	Tracker tickets.Tracker
	Config  *config.Config
	// assumeRetry makes every run check the tracker as a retry does; tests
	// set it, as the test environment cannot set an attempt number.
	assumeRetry bool
}

// NewTracker builds the tracker the configuration names: GitHub when
// configured, else the file tracker.
func NewTracker(cfg *config.Config) (tickets.Tracker, error) {
	t := cfg.Tickets
	if gh := t.GitHub; gh != nil {
		owner, name, _ := strings.Cut(gh.Repo, "/")
		return tickets.NewGitHub(httpClient(), gh.BaseURL, owner, name,
			func() (string, error) { return secret(gh.TokenEnv, gh.TokenFile) }, gh.TokenEnv, gh.Label)
	}
	return &tickets.FileTracker{Dir: t.Dir}, nil
}

// ticketJournal is ProcessResults' heartbeat: the plan and the outcome
// of each action done, so a retry resumes with the whole summary. Only
// each action's kind, fingerprint and ticket are kept, and its texts
// rebuilt from the results (describe): heartbeat details are a payload
// too, and a round at the failure cap plans thousands of actions. The
// names differ from the journal's before, which a retry after an upgrade
// therefore ignores and plans again, checking the markers as any retry.
type ticketJournal struct {
	Actions  [][3]string // kind, fingerprint, ticket ID
	Outcomes [][2]string // ticket ID, what happened (an action kind)
}

func (j *ticketJournal) setPlan(plan []TicketAction) {
	j.Actions = make([][3]string, len(plan))
	for i, a := range plan {
		j.Actions[i] = [3]string{a.Kind, a.Fingerprint, a.TicketID}
	}
}

func (j *ticketJournal) done(out actionOutcome) {
	j.Outcomes = append(j.Outcomes, [2]string{out.TicketID, out.Kind})
}

// plan rebuilds the journaled actions with their texts, from the first
// case of each fingerprint, as PlanTicketActions chose them.
func (j *ticketJournal) plan(in ProcessResultsInput) []TicketAction {
	type found struct {
		res SuiteResult
		c   CaseResult
	}
	cases := map[string]found{}
	for _, res := range in.Results {
		for _, c := range res.Cases {
			if _, seen := cases[c.Fingerprint()]; !seen {
				cases[c.Fingerprint()] = found{res, c}
			}
		}
	}
	plan := make([]TicketAction, len(j.Actions))
	for i, a := range j.Actions {
		plan[i] = TicketAction{Kind: a[0], Fingerprint: a[1], TicketID: a[2]}
		f := cases[a[1]]
		describe(&plan[i], in.Release, in.Channel, f.res, f.c)
	}
	return plan
}

type actionOutcome struct {
	TicketID string
	Kind     string // what happened: ActionFile means a ticket was filed
}

// NewUserTracker builds the production users' own tracker when the
// configuration names one (production.userTickets.dir or .github); nil
// when their tickets are a label on the main tracker, or not configured.
func NewUserTracker(cfg *config.Config) (tickets.Tracker, error) {
	u := cfg.Production.UserTickets
	switch {
	case u == nil || u.Label != "":
		return nil, nil
	case u.GitHub != nil:
		gh := u.GitHub
		owner, name, _ := strings.Cut(gh.Repo, "/")
		return tickets.NewGitHub(httpClient(), gh.BaseURL, owner, name,
			func() (string, error) { return secret(gh.TokenEnv, gh.TokenFile) }, gh.TokenEnv, gh.Label)
	default:
		return &tickets.FileTracker{Dir: u.Dir}, nil
	}
}

// ProcessResults plans the round's ticket actions (PlanTicketActions) and
// carries them out, journaling each with its outcome in the heartbeat.
// Every ticket body and comment carries the marker of its action's key,
// so that on a retry the action that may have been in flight, and any a
// lost heartbeat forgot, are found in the tracker instead of repeated:
// never a duplicate ticket or comment, and no filed ticket missing from
// New.
func (a *TicketActivities) ProcessResults(ctx context.Context, in ProcessResultsInput) (TicketSummary, error) {
	var sum TicketSummary
	results, err := resolveResults(in.Results)
	if err != nil {
		return sum, err
	}
	in.Results = results
	for _, res := range in.Results {
		listedPasses := 0
		for _, c := range res.Cases {
			sum.Cases++
			if c.Failed() {
				sum.Failures++
			} else if c.Status == "passed" && c.Name != SuiteRunCase {
				listedPasses++
			}
		}
		// A bounded result lists only the passes of watched cases.
		sum.Cases += max(0, res.Passed-listedPasses)
	}
	key := opKey(ctx, in.Key)
	var j ticketJournal
	if activity.HasHeartbeatDetails(ctx) && activity.GetHeartbeatDetails(ctx, &j) != nil {
		j = ticketJournal{}
	}
	retry := a.assumeRetry || (activity.IsActivity(ctx) && activity.GetInfo(ctx).Attempt > 1)
	var plan []TicketAction
	if j.Actions == nil {
		open, err := a.Tracker.ListOpen(ctx)
		if err != nil {
			return sum, classifyFailure("list open tickets", err)
		}
		plan = PlanTicketActions(TicketPlanInput{
			Release: in.Release, Channel: in.Channel, Results: in.Results, Open: open,
			CloseOnPass: a.Config.Testing.ClosesOnPass(), Labels: a.Config.Tickets.Labels,
		})
		j = ticketJournal{}
		j.setPlan(plan)
		record(ctx, j)
	} else {
		plan = j.plan(in)
	}
	for i, act := range plan {
		if i < len(j.Outcomes) {
			continue // done before a retry; its outcome is in the journal
		}
		out, err := a.execute(ctx, act, key, retry)
		if err != nil {
			return sum, err
		}
		j.done(out)
		record(ctx, j)
	}
	for _, out := range j.Outcomes {
		switch out[1] {
		case ActionFile:
			sum.New = append(sum.New, out[0])
		case ActionComment:
			sum.Commented = append(sum.Commented, out[0])
		case ActionClose:
			sum.Closed = append(sum.Closed, out[0])
		}
	}
	open, err := a.Tracker.ListOpen(ctx)
	if err != nil {
		return sum, classifyFailure("count open tickets", err)
	}
	sum.Open = len(open)
	for _, t := range open {
		if len(sum.OpenFingerprints) < maxOpenFingerprints {
			sum.OpenFingerprints = append(sum.OpenFingerprints, t.Fingerprint)
		}
		if slices.ContainsFunc(t.Labels, func(l string) bool { return strings.EqualFold(l, a.Config.Testing.Gate.BlockerLabel) }) {
			sum.Blockers++
		}
	}
	return sum, nil
}

// maxOpenFingerprints bounds the fingerprints a summary carries into
// workflow history: the test cycle watches the first 500 (maxWatched), and
// thousands of open tickets would make every round's result large.
const maxOpenFingerprints = 500

func record(ctx context.Context, j ticketJournal) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, j)
	}
}

// execute carries out one action. On a retry (check) it first asks the
// tracker whether the action's marker is already there.
func (a *TicketActivities) execute(ctx context.Context, act TicketAction, round string, check bool) (actionOutcome, error) {
	fp := act.Fingerprint
	fileKey, commentKey := actionKey(round, ActionFile, fp), actionKey(round, ActionComment, fp)
	switch act.Kind {
	case ActionFile:
		if check {
			if out, ok, err := a.alreadyFiled(ctx, fp, fileKey, commentKey); err != nil || ok {
				return out, err
			}
		}
		t, created, err := tickets.FileOrComment(ctx, a.Tracker, tickets.NewTicket{
			Fingerprint: fp, Title: act.Title, Body: tickets.WithMarker(act.Body, fileKey), Labels: a.Config.Tickets.Labels,
		}, tickets.WithMarker(act.Body, commentKey))
		if err != nil {
			return actionOutcome{}, classifyFailure("file ticket for "+fp, err)
		}
		if created {
			return actionOutcome{TicketID: t.ID, Kind: ActionFile}, nil
		}
		return actionOutcome{TicketID: t.ID, Kind: ActionComment}, nil
	case ActionComment, ActionClose:
		k := actionKey(round, act.Kind, fp)
		if check && k != "" {
			// A re-planned round sees the ticket an earlier attempt filed
			// as open and plans a comment: the file marker tells.
			for _, m := range []struct{ key, kind string }{{fileKey, ActionFile}, {k, act.Kind}} {
				done, err := a.Tracker.HasMarker(ctx, act.TicketID, m.key)
				if err != nil {
					return actionOutcome{}, classifyFailure("read ticket "+act.TicketID, err)
				}
				if !done {
					continue
				}
				if m.kind == ActionClose {
					// The comment went in; closing again is harmless and
					// finishes a close that stopped after it.
					if err := a.Tracker.Close(ctx, act.TicketID, ""); err != nil {
						return actionOutcome{}, classifyFailure("close ticket "+act.TicketID, err)
					}
				}
				return actionOutcome{TicketID: act.TicketID, Kind: m.kind}, nil
			}
		}
		var err error
		if act.Kind == ActionClose {
			err = a.Tracker.Close(ctx, act.TicketID, tickets.WithMarker(act.Body, k))
		} else {
			err = a.Tracker.Comment(ctx, act.TicketID, tickets.WithMarker(act.Body, k))
		}
		if err != nil {
			return actionOutcome{}, classifyFailure(act.Kind+" ticket "+act.TicketID, err)
		}
		return actionOutcome{TicketID: act.TicketID, Kind: act.Kind}, nil
	default:
		return actionOutcome{}, invalid(fmt.Sprintf("unknown ticket action %q for %s", act.Kind, fp))
	}
}

// alreadyFiled finds the work of an earlier attempt at filing fp: the open
// ticket it filed, or the comment it added to a ticket someone else filed.
func (a *TicketActivities) alreadyFiled(ctx context.Context, fp, fileKey, commentKey string) (actionOutcome, bool, error) {
	t, err := a.Tracker.FindOpen(ctx, fp)
	if err != nil || t == nil {
		return actionOutcome{}, false, classifyFailure("find ticket for "+fp, err)
	}
	for _, k := range []struct{ key, kind string }{{fileKey, ActionFile}, {commentKey, ActionComment}} {
		has, err := a.Tracker.HasMarker(ctx, t.ID, k.key)
		if err != nil {
			return actionOutcome{}, false, classifyFailure("read ticket "+t.ID, err)
		}
		if has {
			return actionOutcome{TicketID: t.ID, Kind: k.kind}, true, nil
		}
	}
	return actionOutcome{}, false, nil
}
