package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

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

// ProcessResults files each failing case as a ticket, or comments on the
// open ticket that already carries its fingerprint; comments on and, where
// configured, closes the tickets of cases that pass again; and counts what
// is open. The heartbeat records how many actions are done, so a retry
// after a tracker error does not comment twice.
func (a *TicketActivities) ProcessResults(ctx context.Context, in ProcessResultsInput) (TicketSummary, error) {
	var sum TicketSummary
	open, err := a.Tracker.ListOpen(ctx)
	if err != nil {
		return sum, a.classify("list open tickets", err)
	}
	byFP := make(map[string]tickets.Ticket, len(open))
	for _, t := range open {
		byFP[t.Fingerprint] = t
	}
	done := 0
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &done)
	}
	step := 0
	for _, res := range in.Results {
		for _, c := range res.Cases {
			sum.Cases++
			if c.Failed() {
				sum.Failures++
			}
			step++
			if step <= done {
				continue // acted on before a retry
			}
			if err := a.act(ctx, in, res, c, byFP, &sum); err != nil {
				return sum, err
			}
			activity.RecordHeartbeat(ctx, step)
		}
	}
	if open, err = a.Tracker.ListOpen(ctx); err != nil {
		return sum, a.classify("count open tickets", err)
	}
	sum.Open = len(open)
	for _, t := range open {
		for _, l := range t.Labels {
			if l == a.Config.Testing.Gate.BlockerLabel {
				sum.Blockers++
				break
			}
		}
	}
	return sum, nil
}

func (a *TicketActivities) act(ctx context.Context, in ProcessResultsInput, res SuiteResult, c CaseResult, byFP map[string]tickets.Ticket, sum *TicketSummary) error {
	fp := c.Fingerprint()
	existing, isOpen := byFP[fp]
	switch {
	case c.Failed():
		t, created, err := tickets.FileOrComment(ctx, a.Tracker, tickets.NewTicket{
			Fingerprint: fp,
			Title:       fmt.Sprintf("%s fails on %s", fp, in.Channel),
			Body:        failureBody(in, res, c),
			Labels:      a.Config.Tickets.Labels,
		}, fmt.Sprintf("Still failing on release %s:\n\n```\n%s\n```", in.Release, c.Message))
		if err != nil {
			return a.classify("file ticket for "+fp, err)
		}
		if created {
			sum.New = append(sum.New, t.ID)
		} else {
			sum.Commented = append(sum.Commented, t.ID)
		}
		byFP[fp] = t
	case isOpen && c.Status == "passed":
		msg := fmt.Sprintf("Passes again on release %s.", in.Release)
		if a.Config.Testing.ClosesOnPass() {
			if err := a.Tracker.Close(ctx, existing.ID, msg+" Closed by osflow."); err != nil {
				return a.classify("close ticket "+existing.ID, err)
			}
			sum.Closed = append(sum.Closed, existing.ID)
			delete(byFP, fp)
		} else if err := a.Tracker.Comment(ctx, existing.ID, msg); err != nil {
			return a.classify("comment on ticket "+existing.ID, err)
		}
	}
	return nil
}

func failureBody(in ProcessResultsInput, res SuiteResult, c CaseResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Integration test **%s** of suite **%s** fails on channel `%s`, release `%s`.\n\n", c.Name, c.Suite, in.Channel, in.Release)
	fmt.Fprintf(&b, "```\n%s\n```\n", c.Message)
	if res.URL != "" {
		fmt.Fprintf(&b, "\nRun: %s\n", res.URL)
	}
	b.WriteString("\nFiled by osflow's test cycle. When the case passes again osflow comments here")
	b.WriteString(" (and closes the ticket if configured). Compare releases with `osflow repo diff`.\n")
	return b.String()
}

// classify maps tracker errors: bad credentials or a missing repo will not
// fix themselves; a rate limit is retried after the time the server gave.
func (a *TicketActivities) classify(what string, err error) error {
	var rl *tickets.RateLimitError
	switch {
	case errors.As(err, &rl):
		return temporal.NewApplicationErrorWithOptions(fmt.Sprintf("%s: %v", what, err), ErrTypeRateLimited,
			temporal.ApplicationErrorOptions{NextRetryDelay: rl.RetryAfter, Cause: err})
	case errors.Is(err, tickets.ErrAuth), errors.Is(err, tickets.ErrNotFound), errors.Is(err, tickets.ErrInvalid):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", what, err), ErrTypeInvalidInput, err)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}
