package starter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/workflows"
)

// With signed approvals required, the status shows the one way to approve
// that signs; the Temporal CLI forms without a statement would be refused.
func TestApproveCommandsWhenSigned(t *testing.T) {
	require.Len(t, approveCommands("promotion-r1", true, false), 3)
	require.Equal(t, []string{"osflow approve promotion-r1 --as NAME --key FILE --window-start TIME [--window-end TIME] [--comment TEXT]"},
		approveCommands("promotion-r1", true, true))
	require.Equal(t, []string{"osflow approve bypass-1 --as NAME --key FILE [--comment TEXT]"}, approveCommands("bypass-1", false, true),
		"a bypass has no window")
}

// A signed approval states its window end: the default the promotion
// would give it, in whole seconds.
func TestSignedWindowDefaults(t *testing.T) {
	ps := workflows.PromotionStatus{Candidate: activities.Candidate{TotalEstimate: 40 * time.Minute}}
	for _, tc := range []struct {
		name   string
		window time.Duration
		est    time.Duration
		want   time.Duration
	}{
		{"production.window", 3 * time.Hour, 40 * time.Minute, 3 * time.Hour},
		{"twice the estimate", 0, 2 * time.Hour, 4 * time.Hour},
		{"an hour at least", 0, 10 * time.Minute, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{}
			cfg.Production.Window.Duration = tc.window
			ps.Candidate.TotalEstimate = tc.est
			require.Equal(t, tc.want, defaultWindow(cfg, ps))
		})
	}
	at := time.Date(2026, 12, 3, 19, 0, 0, 123456789, time.UTC)
	start, end := signedWindow("key", at, time.Time{})
	require.Equal(t, time.Date(2026, 12, 3, 19, 0, 0, 0, time.UTC), start)
	require.True(t, end.IsZero())
	start, _ = signedWindow("", at, time.Time{})
	require.Equal(t, at, start, "unsigned: as given")
}
