package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/activities"
)

// Issue 16 #11: with no test suite configured the gate passed on zero
// tests. It waits now unless testing.allowEmptyGate says otherwise; a plan
// recorded before RequireSuites existed decides as it did.
func TestEvaluateGateEmpty(t *testing.T) {
	base := activities.TestPlan{CleanRounds: 2, BlockerLabel: "blocker", MinSoak: time.Hour}
	for _, tt := range []struct {
		name          string
		suites        []string
		requireSuites bool
		passed        bool
		reason        string
	}{
		{"no suite, empty gate refused", nil, true, false, "waiting: 0 test suites configured (an empty gate passes only with testing.allowEmptyGate: true)"},
		{"no suite, allowEmptyGate", nil, false, true, ""},
		{"suites", []string{"repoclosure"}, true, true, "ok: 1 test suites configured"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan := base
			plan.Suites, plan.RequireSuites = tt.suites, tt.requireSuites
			g := EvaluateGate(GateInput{Plan: plan, CleanStreak: 2, Soaked: 2 * time.Hour})
			require.Equal(t, tt.passed, g.Passed, g.Reasons)
			if tt.reason != "" {
				require.Contains(t, g.Reasons[len(g.Reasons)-1], tt.reason)
			} else {
				require.Len(t, g.Reasons, 4, "no suite condition without RequireSuites: %v", g.Reasons)
			}
		})
	}
}
