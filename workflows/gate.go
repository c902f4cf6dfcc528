package workflows

import (
	"fmt"
	"time"

	"github.com/osflow/osflow/activities"
)

// Gate is the verdict on whether the release under test may become a
// candidate, with a reason per condition so operators see what is missing.
type Gate struct {
	Passed  bool
	Reasons []string
}

// GateInput is what the gate looks at: the plan's thresholds and the
// cycle's counts for the release testing serves.
type GateInput struct {
	Plan            activities.TestPlan
	CleanStreak     int
	Blockers        int
	Soaked          time.Duration
	LastRoundFailed bool
}

// EvaluateGate is the gate as a pure function: N consecutive clean rounds,
// no open blocker, enough soak time on testing, and at least one suite
// unless the configuration allows an empty gate. A round is clean when
// it filed no new ticket, or, with Plan.PassingRounds, when no case failed
// at all (see cleanRound).
func EvaluateGate(in GateInput) Gate {
	g := Gate{Passed: true}
	check := func(ok bool, format string, args ...any) {
		mark := "ok"
		if !ok {
			mark = "waiting"
			g.Passed = false
		}
		g.Reasons = append(g.Reasons, fmt.Sprintf("%s: %s", mark, fmt.Sprintf(format, args...)))
	}
	clean := "without new tickets"
	if in.Plan.PassingRounds {
		clean = "without failing cases"
	}
	check(in.CleanStreak >= in.Plan.CleanRounds, "%d of %d consecutive rounds %s", in.CleanStreak, in.Plan.CleanRounds, clean)
	check(in.Blockers == 0, "%d open tickets labelled %q", in.Blockers, in.Plan.BlockerLabel)
	check(in.Soaked >= in.Plan.MinSoak, "soaked %s of %s on testing", in.Soaked.Truncate(time.Second), in.Plan.MinSoak)
	check(!in.LastRoundFailed, "last round completed")
	// Decided by the recorded plan, not by new workflow code: a plan from
	// before RequireSuites existed evaluates as it did then.
	if in.Plan.RequireSuites {
		check(len(in.Plan.Suites) > 0, "%d test suites configured (an empty gate passes only with testing.allowEmptyGate: true)", len(in.Plan.Suites))
	}
	return g
}

// cleanRound says whether a round counts towards the gate's streak: it
// filed no new ticket and, when the plan asks for passing rounds, no case
// failed (a case whose ticket is already open fails again, say).
func cleanRound(plan activities.TestPlan, sum activities.TicketSummary) bool {
	if len(sum.New) > 0 {
		return false
	}
	return !plan.PassingRounds || sum.Failures == 0
}
