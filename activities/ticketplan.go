package activities

import (
	"fmt"
	"strings"

	"github.com/osflow/osflow/integrations/tickets"
)

// Kinds of ticket action a round plans.
const (
	ActionFile    = "file"    // a failing case with no open ticket
	ActionComment = "comment" // a failing case whose ticket is open, or a passing one kept open
	ActionClose   = "close"   // a passing case whose ticket is open
)

// TicketAction is one step of a round's ticket plan, with the reason it
// was chosen.
type TicketAction struct {
	Kind        string
	Fingerprint string
	// TicketID is the open ticket a comment or close acts on.
	TicketID string
	// Title and Body are a new ticket's; Body is the comment otherwise.
	Title  string
	Body   string
	Reason string
}

// TicketPlanInput is what a round's ticket plan depends on.
type TicketPlanInput struct {
	Release     string
	Channel     string
	Results     []SuiteResult
	Open        []tickets.Ticket
	CloseOnPass bool
	Labels      []string
}

// PlanTicketActions decides, without touching the tracker, what a round
// does to it: file each failing case that has no open ticket, comment on
// the open ticket of a case that fails again, and close (or, without
// closeOnPass, comment on) the open ticket of a case that passes again.
// A fingerprint is acted on once per round, for its first case.
func PlanTicketActions(in TicketPlanInput) []TicketAction {
	open := make(map[string]string, len(in.Open))
	for _, t := range in.Open {
		if _, seen := open[t.Fingerprint]; !seen {
			open[t.Fingerprint] = t.ID // the oldest, as FindOpen answers
		}
	}
	planned := map[string]bool{}
	var plan []TicketAction
	for _, res := range in.Results {
		for _, c := range res.Cases {
			fp := c.Fingerprint()
			if planned[fp] {
				continue
			}
			id, isOpen := open[fp]
			a := TicketAction{Fingerprint: fp, TicketID: id}
			switch {
			case c.Failed() && !isOpen:
				a.Kind, a.TicketID = ActionFile, ""
			case c.Failed():
				a.Kind = ActionComment
			case isOpen && c.Status == "passed" && in.CloseOnPass:
				a.Kind = ActionClose
			case isOpen && c.Status == "passed":
				a.Kind = ActionComment
			default:
				continue
			}
			describe(&a, in.Release, in.Channel, res, c)
			planned[fp] = true
			plan = append(plan, a)
		}
	}
	return plan
}

// describe writes an action's title, body and reason from its kind and
// the case it acts on. A retry rebuilds them this way from its journal,
// which keeps only kinds, fingerprints and tickets.
func describe(a *TicketAction, release, channel string, res SuiteResult, c CaseResult) {
	switch {
	case a.Kind == ActionFile:
		a.Title = fmt.Sprintf("%s fails on %s", a.Fingerprint, channel)
		a.Body = failureBody(release, channel, res, c)
		a.Reason = fmt.Sprintf("%s %s; no open ticket carries %s", c.Name, c.Status, a.Fingerprint)
	case a.Kind == ActionComment && c.Failed():
		a.Body = fmt.Sprintf("Still failing on release %s:\n\n```\n%s\n```", release, c.Message)
		a.Reason = fmt.Sprintf("%s %s again; ticket %s is open", c.Name, c.Status, a.TicketID)
	case a.Kind == ActionClose:
		a.Body = fmt.Sprintf("Passes again on release %s. Closed by osflow.", release)
		a.Reason = fmt.Sprintf("%s passes; ticket %s is open and closeOnPass is set", c.Name, a.TicketID)
	case a.Kind == ActionComment:
		a.Body = fmt.Sprintf("Passes again on release %s.", release)
		a.Reason = fmt.Sprintf("%s passes; ticket %s stays open (closeOnPass is off)", c.Name, a.TicketID)
	}
}

// RenderTicketPlan prints a plan one action per line, as a dry run or a
// golden file shows it.
func RenderTicketPlan(plan []TicketAction) string {
	var b strings.Builder
	for _, a := range plan {
		target := a.TicketID
		if a.Kind == ActionFile {
			target = fmt.Sprintf("%q", a.Title)
		}
		fmt.Fprintf(&b, "%-7s %-28s %s  (%s)\n", a.Kind, a.Fingerprint, target, a.Reason)
	}
	return b.String()
}

// actionKey is the marker key of one action of the round key: stable for
// a fingerprint across a re-plan, distinct per kind so a retry can tell a
// ticket this round filed from one it commented on.
func actionKey(round, kind, fp string) string {
	if round == "" {
		return ""
	}
	return round + "/" + kind + "/" + fp
}

func failureBody(release, channel string, res SuiteResult, c CaseResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Integration test **%s** of suite **%s** fails on channel `%s`, release `%s`.\n\n", c.Name, c.Suite, channel, release)
	fmt.Fprintf(&b, "```\n%s\n```\n", c.Message)
	if res.URL != "" {
		fmt.Fprintf(&b, "\nRun: %s\n", res.URL)
	}
	b.WriteString("\nFiled by osflow's test cycle. When the case passes again osflow comments here")
	b.WriteString(" (and closes the ticket if configured). Compare releases with `osflow repo diff`.\n")
	return b.String()
}
