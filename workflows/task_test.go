package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/osflow/osflow/activities"
)

// An outage task whose worker stops mid-run is retried (RunTask attaches
// to the run the first attempt started); a task that ran and failed is
// not retried, and the outage rolls back.
func TestPromotionTaskOutlivesItsWorker(t *testing.T) {
	for _, tt := range []struct {
		name      string
		attempts  []error
		wantState string
		wantRuns  int
	}{
		{"worker stops twice", []error{errors.New("outage task drain: left running: context canceled"),
			errors.New("outage task drain: left running: context canceled"), nil}, ApprovalDone, 3},
		{"task fails", []error{temporal.NewNonRetryableApplicationError("exit status 3", activities.ErrTypeTaskFailed, nil)},
			ApprovalRolledBack, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := &world{production: "r1", testing: "r2"}
			env := newPromotionEnv(t, w)
			runs := 0
			env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&failAttempts{
				activity: "RunTask", errs: tt.attempts, runs: &runs}}})
			var approved, firmwareDone answer
			sendUpdate[Approval](env, time.Hour, UpdateApproveOutage, window(env, 2*time.Hour, 3*time.Hour), &approved)
			sendUpdate[TaskDone](env, 2*time.Hour+10*time.Minute, UpdateTaskDone, TaskDone{Task: "firmware", By: "carol"}, &firmwareDone)

			env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
			var st PromotionStatus
			if err := env.GetWorkflowError(); err != nil {
				var app *temporal.ApplicationError
				require.ErrorAs(t, err, &app)
				require.NoError(t, app.Details(&st))
			} else {
				require.NoError(t, env.GetWorkflowResult(&st))
			}
			require.Equal(t, tt.wantState, st.State)
			require.Equal(t, tt.wantRuns, runs)
			require.Equal(t, min(1, w.calls["RunTask drain"]), w.calls["RunTask drain"], "only a successful attempt reaches the world")
			if tt.wantState == ApprovalDone {
				require.Equal(t, "r2", w.production)
				require.Equal(t, 9*time.Minute, st.Tasks[0].Measured)
			} else {
				require.Equal(t, "r1", w.production)
			}
		})
	}
}

// failAttempts fails the attempts of an activity with errs, one per
// attempt, before the activity runs; a nil error lets the attempt run.
type failAttempts struct {
	interceptor.WorkerInterceptorBase
	activity string
	errs     []error
	runs     *int
}

func (f *failAttempts) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &failAttemptsActivity{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, f: *f}
}

type failAttemptsActivity struct {
	interceptor.ActivityInboundInterceptorBase
	f failAttempts
}

func (a *failAttemptsActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	if activity.GetInfo(ctx).ActivityType.Name != a.f.activity {
		return a.Next.ExecuteActivity(ctx, in)
	}
	*a.f.runs++
	if err := a.f.errs[min(*a.f.runs, len(a.f.errs))-1]; err != nil {
		return nil, err
	}
	return a.Next.ExecuteActivity(ctx, in)
}
