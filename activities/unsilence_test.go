package activities

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/monitoring"
	"github.com/osflow/osflow/integrations/monitoring/nagiostest"
)

// Issue 16 #11: "6 silences ended" was reported while 5 downtimes
// remained. Unsilence says what it ended, and a silence still in force
// after Expire is an error that is retried, carrying what remains.
func TestUnsilenceReportsWhatRemains(t *testing.T) {
	r := nagiostest.Start(t)
	cfg := config.Nagios{CommandFile: r.CmdFile, StatusFile: r.StatusFile, Hostgroups: []string{"compute"},
		ConfirmTimeout: config.Duration{Duration: 30 * time.Second}}
	start := time.Now().Truncate(time.Second)
	ids, err := monitoring.NewNagios(cfg).Silence(t.Context(), "promotion-r1/silence", monitoring.Window{Start: start, End: start.Add(time.Hour)}, "outage")
	require.NoError(t, err)
	require.Len(t, ids, 4) // node1, node2, and their services

	// Nagios is stopped below: its end cannot show, and the wait for it
	// is short.
	cfg.ConfirmTimeout.Duration = 3 * time.Second
	n := monitoring.NewNagios(cfg)

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	acts := &PromotionActivities{Silencer: n}
	env.RegisterActivity(acts)
	require.NoError(t, r.Process.Signal(syscall.SIGSTOP))
	_, err = env.ExecuteActivity(acts.Unsilence, KeyInput{Key: "promotion-r1/silence"})
	require.NoError(t, r.Process.Signal(syscall.SIGCONT))
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "%v", err)
	require.Equal(t, ErrTypeSilencesRemain, app.Type())
	require.False(t, app.NonRetryable(), "retried: the monitoring system may be busy")
	var left UnsilenceResult
	require.NoError(t, app.Details(&left))
	require.ElementsMatch(t, ids, left.RemainingIDs())
	require.Contains(t, app.Message(), "0 of 4 silences ended; 4 remain: nagios:")

	// Nagios runs again: the retry finds them gone.
	require.Eventually(t, func() bool {
		v, err := env.ExecuteActivity(acts.Unsilence, KeyInput{Key: "promotion-r1/silence"})
		if err != nil {
			return false
		}
		var res UnsilenceResult
		require.NoError(t, v.Get(&res))
		return len(res.Remaining) == 0
	}, 30*time.Second, 100*time.Millisecond)
}
