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

// EvaluateGate is the gate as a pure function: N consecutive rounds that
// filed no new ticket, no open blocker, and enough soak time on testing.
func EvaluateGate(plan activities.TestPlan, cleanStreak, blockers int, soaked time.Duration, lastRoundFailed bool) Gate {
	g := Gate{Passed: true}
	check := func(ok bool, format string, args ...any) {
		mark := "ok"
		if !ok {
			mark = "waiting"
			g.Passed = false
		}
		g.Reasons = append(g.Reasons, fmt.Sprintf("%s: %s", mark, fmt.Sprintf(format, args...)))
	}
	check(cleanStreak >= plan.CleanRounds, "%d of %d consecutive rounds without new tickets", cleanStreak, plan.CleanRounds)
	check(blockers == 0, "%d open tickets labelled %q", blockers, plan.BlockerLabel)
	check(soaked >= plan.MinSoak, "soaked %s of %s on testing", soaked.Truncate(time.Second), plan.MinSoak)
	check(!lastRoundFailed, "last round completed")
	return g
}
