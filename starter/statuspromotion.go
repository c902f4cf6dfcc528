package starter

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/workflows"
)

// StepView is one outage step with its times, as `osflow status` shows it.
type StepView struct {
	Name    string     `json:"name"`
	Status  string     `json:"status"`
	Detail  string     `json:"detail,omitempty"`
	Started time.Time  `json:"started"`
	Ended   *time.Time `json:"ended,omitempty"`
}

// promotionDetails adds to a promotion's view its outage steps, the
// people's comments and the production users' input it carries.
func promotionDetails(v *PromotionView, ps workflows.PromotionStatus) {
	for _, s := range ps.Steps {
		sv := StepView{Name: s.Name, Status: s.Status, Detail: s.Detail, Started: s.Started}
		if !s.Ended.IsZero() {
			ended := s.Ended
			sv.Ended = &ended
		}
		v.Steps = append(v.Steps, sv)
	}
	for _, n := range ps.Comments {
		v.Comments = append(v.Comments, workflows.Note{By: n.By, Text: n.Text, At: n.At})
	}
	v.Users = ps.Users
}

// mergeBackView shows a running merge-back like a promotion: what it
// waits for (a conflict names the command that resolves it).
func mergeBackView(ctx context.Context, c client.Client, id string) PromotionView {
	v := PromotionView{ID: id, Phase: "merge-back"}
	ms, err := queryStatus[workflows.MergeBackStatus](ctx, c, id, "")
	if err != nil {
		v.Error = err.Error()
		return v
	}
	v.Release, v.WaitingFor, v.Refused = ms.Release, ms.WaitingFor, ms.Refused
	for _, m := range ms.Merges {
		v.Steps = append(v.Steps, StepView{Name: "merge " + m.Repo + " into " + m.Into, Status: "done", Detail: m.Outcome()})
	}
	return v
}

// printPromotionDetails prints the steps with their local times, the
// comments and the users' input.
func printPromotionDetails(w io.Writer, p PromotionView) {
	for _, s := range p.Steps {
		when := ""
		if !s.Started.IsZero() {
			when = s.Started.Local().Format("15:04:05")
			if s.Ended != nil {
				when += "-" + s.Ended.Local().Format("15:04:05") + " (" + s.Ended.Sub(s.Started).Round(time.Second).String() + ")"
			}
		}
		fmt.Fprintf(w, "  step %-24s %-8s %s %s\n", s.Name, s.Status, when, s.Detail)
	}
	for _, n := range p.Comments {
		fmt.Fprintf(w, "  comment by %s at %s: %s\n", n.By, n.At.Local().Format("2006-01-02 15:04"), oneLine(n.Text))
	}
	for _, u := range p.Users {
		fmt.Fprintf(w, "  user report in its risk report %s %s\n", u.ID, u.Title)
	}
}

// CandidateGate is the test cycle's last candidate and the gate it passed.
type CandidateGate struct {
	Release string   `json:"release"`
	Rounds  int      `json:"rounds"`
	Gate    []string `json:"gate"`
}

func candidateGate(c *activities.Candidate) *CandidateGate {
	if c == nil {
		return nil
	}
	return &CandidateGate{Release: c.Release, Rounds: c.Rounds, Gate: c.Gate}
}

// printCandidateGate shows the gate a cycle's last candidate passed: the
// cycle starts over after it, and its own gate is empty until next round.
func printCandidateGate(w io.Writer, c *CandidateGate) {
	if c == nil || len(c.Gate) == 0 {
		return
	}
	fmt.Fprintf(w, "  candidate %s passed the gate after %d rounds:\n", c.Release, c.Rounds)
	for _, r := range c.Gate {
		fmt.Fprintf(w, "    %s\n", r)
	}
}

func oneLine(s string) string {
	line, _, more := strings.Cut(s, "\n")
	if more {
		line += " …"
	}
	return line
}
