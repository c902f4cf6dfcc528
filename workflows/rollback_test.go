package workflows

import (
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/osflow/osflow/activities"
)

func TestChannelRollback(t *testing.T) {
	tests := []struct {
		name       string
		in         activities.RollbackInput
		result     activities.ChannelSwitch
		activity   error
		wantErr    string
		wantSignal bool
	}{
		{
			name:       "testing wakes the cycle",
			in:         activities.RollbackInput{Channel: "testing", Actor: "cli/alice", Reason: "broken"},
			result:     activities.ChannelSwitch{Channel: "testing", From: "r2", To: "r1", Changed: true},
			wantSignal: true,
		},
		{
			name:   "daily does not",
			in:     activities.RollbackInput{Channel: "daily", Actor: "cli/alice", Reason: "broken"},
			result: activities.ChannelSwitch{Channel: "daily", From: "r2", To: "r1", Changed: true},
		},
		{
			name:     "a refused target fails without retry",
			in:       activities.RollbackInput{Channel: "testing", To: "r9", Actor: "cli/alice", Reason: "broken"},
			activity: temporal.NewNonRetryableApplicationError("channel testing never served r9", activities.ErrTypeInvalidInput, nil),
			wantErr:  "never served r9",
		},
		{
			name:    "a reason is required",
			in:      activities.RollbackInput{Channel: "testing", Actor: "cli/alice"},
			wantErr: "needs a channel, an actor and a reason",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newDailyEnv(t)
			resolved := tc.in
			if resolved.To == "" {
				resolved.To = "r1" // the release before the current one, resolved once
			}
			env.OnActivity(repoActs.ResolveRollback, mock.Anything, tc.in).Return(resolved, nil).Maybe()
			resolved.Key = "default-test-workflow-id/default-test-run-id/rollback-" + tc.in.Channel
			env.OnActivity(repoActs.RollbackChannel, mock.Anything, resolved).Return(tc.result, tc.activity).Maybe()
			env.OnActivity(cycleActs.SignalWithStart, mock.Anything, mock.Anything).Return("run", nil).Maybe()

			env.ExecuteWorkflow(ChannelRollback, tc.in)

			require.True(t, env.IsWorkflowCompleted())
			if tc.wantErr != "" {
				require.ErrorContains(t, env.GetWorkflowError(), tc.wantErr)
				return
			}
			require.NoError(t, env.GetWorkflowError())
			var sw activities.ChannelSwitch
			require.NoError(t, env.GetWorkflowResult(&sw))
			require.Equal(t, tc.result, sw)
			if tc.wantSignal {
				env.AssertCalled(t, "SignalWithStart", mock.Anything, activities.SignalWithStartInput{
					WorkflowID: TestCycleWorkflowID, WorkflowType: TestCycleWorkflowType, Signal: SignalTestingUpdated,
					Payload: activities.TestingUpdated{Release: "r1", Channel: "testing", Actor: "cli/alice"},
				})
			} else {
				env.AssertNotCalled(t, "SignalWithStart", mock.Anything, mock.Anything)
			}
		})
	}
}
