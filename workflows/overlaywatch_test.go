package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

const (
	vendorListing = "https://vendor.example.com/dl/"
	securityRepo  = "https://security.example.com/el9/"
)

var watchPlan = activities.WatchPlan{
	Overlay: "site", RepoTaskQueue: "osflow-repo", Timeout: time.Hour, HeartbeatTimeout: time.Minute, MaxAttempts: 3,
	Sources: []activities.WatchSource{{URL: vendorListing}, {URL: securityRepo, Bypass: true}},
}

func staged(source, nevra string) activities.StagedPackage {
	name := nevra[:strings.LastIndex(nevra[:strings.LastIndex(nevra, "-")], "-")]
	return activities.StagedPackage{Source: source, URL: source + nevra + ".rpm", File: "/srv/osflow/tmp/sources/site/" + nevra + "/" + nevra + ".rpm",
		NEVRA: nevra, Name: name, Arch: "x86_64", SHA256: "sha-" + nevra}
}

// fakeBypass stands for the Bypass workflow, which the watch starts by
// its registered name.
func fakeBypass(workflow.Context, BypassInput) error { return nil }

// bypassCall is one start of the Bypass child, as the mock saw it.
type bypassCall struct {
	ID string
	In BypassInput
}

// newBareWatchEnv is an OverlayWatch environment whose watch plan is
// plan; the test mocks the checks.
func newBareWatchEnv(plan activities.WatchPlan) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.ConfigActivities{})
	env.RegisterActivity(&activities.SourceActivities{})
	env.RegisterWorkflowWithOptions(fakeBypass, workflow.RegisterOptions{Name: BypassWorkflowType})
	env.OnActivity(configActs.WatchPlan, mock.Anything, activities.WatchPlanInput{Overlay: "site"}).Return(plan, nil)
	return env
}

// newWatchEnv is an OverlayWatch of watchPlan whose checks find checks
// (by source URL); it records each start of the Bypass child.
func newWatchEnv(t *testing.T, checks map[string]activities.SourceCheck) (*testsuite.TestWorkflowEnvironment, *[]bypassCall) {
	env := newBareWatchEnv(watchPlan)
	for src, c := range checks {
		c.Source = src
		env.OnActivity(sourceActs.CheckSource, mock.Anything, activities.CheckSourceInput{Overlay: "site", Source: src}).Return(c, nil)
	}
	var calls []bypassCall
	env.OnWorkflow(BypassWorkflowType, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, in BypassInput) error {
		calls = append(calls, bypassCall{ID: workflow.GetInfo(ctx).WorkflowExecution.ID, In: in})
		return nil
	}).Maybe() // the tests count the calls themselves
	return env, &calls
}

func watchResult(t *testing.T, env *testsuite.TestWorkflowEnvironment) OverlayWatchStatus {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var st OverlayWatchStatus
	require.NoError(t, env.GetWorkflowResult(&st))
	return st
}

func TestOverlayWatchAddsANewVersionForTheDailySync(t *testing.T) {
	app := staged(vendorListing, "vendor-app-1.1-1.x86_64")
	env, calls := newWatchEnv(t, map[string]activities.SourceCheck{
		vendorListing: {Offered: 2, New: []activities.StagedPackage{app}, Skipped: 1},
		securityRepo:  {Offered: 4, Skipped: 4},
	})
	env.OnActivity(sourceActs.AddStaged, mock.Anything, mock.MatchedBy(func(in activities.AddStagedInput) bool {
		return in.Overlay == "site" && len(in.Packages) == 1 && in.Packages[0] == app && strings.HasSuffix(in.Key, "/add")
	})).Return(activities.AddStagedResult{Added: []string{app.NEVRA}}, nil).Once()

	env.ExecuteWorkflow(OverlayWatch, OverlayWatchInput{Overlay: "site"})

	st := watchResult(t, env)
	require.Equal(t, WatchDone, st.Phase)
	require.Equal(t, []string{app.NEVRA}, st.Added)
	require.Empty(t, st.Bypass)
	require.Empty(t, *calls, "without bypass: auto a new version waits for the daily sync")
	require.Len(t, st.Sources, 2)
	env.AssertNotCalled(t, "RecordBypass", mock.Anything, mock.Anything)
	env.AssertExpectations(t)
}

func TestOverlayWatchStartsOneBypassForASecurityFeed(t *testing.T) {
	ssl := staged(securityRepo, "openssl-3.0.8-1.el9.x86_64")
	libs := staged(securityRepo, "openssl-libs-3.0.8-1.el9.x86_64")
	app := staged(vendorListing, "vendor-app-1.1-1.x86_64")
	env, calls := newWatchEnv(t, map[string]activities.SourceCheck{
		vendorListing: {New: []activities.StagedPackage{app}},
		securityRepo:  {New: []activities.StagedPackage{libs, ssl}},
	})
	var recorded []activities.RecordBypassInput
	env.OnActivity(sourceActs.RecordBypass, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RecordBypassInput) error {
		recorded = append(recorded, in)
		require.Empty(t, *calls, "the journal has the bypass before it starts")
		return nil
	})
	env.OnActivity(sourceActs.AddStaged, mock.Anything, mock.MatchedBy(func(in activities.AddStagedInput) bool {
		return len(in.Packages) == 1 && in.Packages[0] == app
	})).Return(activities.AddStagedResult{Added: []string{app.NEVRA}}, nil).Once()

	env.ExecuteWorkflow(OverlayWatch, OverlayWatchInput{Overlay: "site"})

	st := watchResult(t, env)
	require.Len(t, *calls, 1, "one bypass for the whole update: openssl needs its libs")
	call := (*calls)[0]
	require.True(t, strings.HasPrefix(call.ID, BypassPrefix+"site-"), call.ID)
	require.Equal(t, BypassInput{
		Overlay:  "site",
		Packages: []BypassPackage{{Path: libs.File}, {Path: ssl.File}},
		Reason:   "new versions of openssl-libs-3.0.8-1.el9.x86_64, openssl-3.0.8-1.el9.x86_64 from " + securityRepo,
		Actor:    "osflow/watch-site",
	}, call.In)
	require.Len(t, recorded, 1)
	require.Equal(t, call.ID, recorded[0].Bypass)
	require.Equal(t, []activities.StagedPackage{libs, ssl}, recorded[0].Packages)
	require.True(t, strings.HasSuffix(recorded[0].Key, "/bypass"), recorded[0].Key)
	require.Empty(t, recorded[0].Error)

	require.Equal(t, call.ID, st.Bypass)
	require.Equal(t, []string{libs.NEVRA, ssl.NEVRA}, st.BypassPackages)
	require.Equal(t, []string{app.NEVRA}, st.Added, "the other source's version only joins the overlay")
	require.Equal(t, WatchDone, st.Phase)
	env.AssertExpectations(t)
}

func TestOverlayWatchWithNothingNewDoesNothing(t *testing.T) {
	env, calls := newWatchEnv(t, map[string]activities.SourceCheck{
		vendorListing: {Offered: 1000, Skipped: 1000, Notes: []string{"vendor-app-1.0-1.x86_64.rpm: not newer than vendor-app-1.0-1.x86_64 in the overlay"}},
		securityRepo:  {Offered: 3, Skipped: 3},
	})

	env.ExecuteWorkflow(OverlayWatch, OverlayWatchInput{Overlay: "site"})

	st := watchResult(t, env)
	require.Equal(t, WatchNoChange, st.Phase)
	require.Empty(t, st.Added)
	require.Empty(t, *calls)
	env.AssertNotCalled(t, "AddStaged", mock.Anything, mock.Anything)
	env.AssertNotCalled(t, "RecordBypass", mock.Anything, mock.Anything)
}

// TestOverlayWatchRetriedCheckStartsOneBypass: a check that fails with a
// transport error is retried (it resumes from its heartbeat, tested with
// the activity); the workflow acts once on the result.
func TestOverlayWatchRetriedCheckStartsOneBypass(t *testing.T) {
	ssl := staged(securityRepo, "openssl-3.0.8-1.el9.x86_64")
	plan := watchPlan
	plan.Sources = []activities.WatchSource{{URL: securityRepo, Bypass: true}}
	env := newBareWatchEnv(plan)
	attempts := 0
	env.OnActivity(sourceActs.CheckSource, mock.Anything, mock.Anything).Return(func(context.Context, activities.CheckSourceInput) (activities.SourceCheck, error) {
		if attempts++; attempts == 1 {
			return activities.SourceCheck{}, errors.New("read tcp: connection reset by peer")
		}
		return activities.SourceCheck{Source: securityRepo, New: []activities.StagedPackage{ssl}}, nil
	})
	env.OnActivity(sourceActs.RecordBypass, mock.Anything, mock.Anything).Return(nil).Once()
	started := 0
	env.OnWorkflow(BypassWorkflowType, mock.Anything, mock.Anything).Return(func(workflow.Context, BypassInput) error { started++; return nil })

	env.ExecuteWorkflow(OverlayWatch, OverlayWatchInput{Overlay: "site"})

	st := watchResult(t, env)
	require.Equal(t, 2, attempts, "the transport error is retried")
	require.Equal(t, 1, started, "one bypass")
	require.Equal(t, []string{ssl.NEVRA}, st.BypassPackages)
	env.AssertExpectations(t)
}

// TestOverlayWatchFailureNamesTheSourceAndFile: a refused file and a
// source that cannot be read fail the run with their names, after the
// other source's new version was added; bad content is not retried.
func TestOverlayWatchFailureNamesTheSourceAndFile(t *testing.T) {
	app := staged(vendorListing, "vendor-app-1.1-1.x86_64")
	env := newBareWatchEnv(watchPlan)
	env.OnActivity(sourceActs.CheckSource, mock.Anything, activities.CheckSourceInput{Overlay: "site", Source: vendorListing}).Return(activities.SourceCheck{
		Source: vendorListing, New: []activities.StagedPackage{app},
		Refused: []string{"vendor-tool-2.0-1.x86_64.rpm (" + vendorListing + "vendor-tool-2.0-1.x86_64.rpm): sha256 checksum mismatch"},
	}, nil)
	env.OnActivity(sourceActs.CheckSource, mock.Anything, activities.CheckSourceInput{Overlay: "site", Source: securityRepo}).Return(activities.SourceCheck{},
		temporal.NewNonRetryableApplicationError("overlay site, source "+securityRepo+": redirect refused", activities.ErrTypeBadContent, nil)).Once()
	env.OnActivity(sourceActs.AddStaged, mock.Anything, mock.Anything).Return(activities.AddStagedResult{Added: []string{app.NEVRA}}, nil).Once()

	env.ExecuteWorkflow(OverlayWatch, OverlayWatchInput{Overlay: "site"})

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "source "+vendorListing+" refused vendor-tool-2.0-1.x86_64.rpm")
	require.Contains(t, msg, "sha256 checksum mismatch")
	require.Contains(t, msg, "source "+securityRepo+": overlay site, source "+securityRepo+": redirect refused")
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	require.Equal(t, ErrTypeWatchFailed, appErr.Type())
	var st OverlayWatchStatus
	require.NoError(t, appErr.Details(&st))
	require.Equal(t, WatchFailed, st.Phase)
	require.Equal(t, []string{app.NEVRA}, st.Added, "the good source's version was added all the same")
	env.AssertExpectations(t)
}

// TestOverlayWatchTakesABuildOnce: the same build offered by a bypass
// source and another goes with the bypass only.
func TestOverlayWatchTakesABuildOnce(t *testing.T) {
	ssl := staged(securityRepo, "openssl-3.0.8-1.el9.x86_64")
	same := ssl
	same.Source, same.URL = vendorListing, vendorListing+"openssl.rpm"
	env, calls := newWatchEnv(t, map[string]activities.SourceCheck{
		vendorListing: {New: []activities.StagedPackage{same}},
		securityRepo:  {New: []activities.StagedPackage{ssl}},
	})
	env.OnActivity(sourceActs.RecordBypass, mock.Anything, mock.Anything).Return(nil).Once()

	env.ExecuteWorkflow(OverlayWatch, OverlayWatchInput{Overlay: "site"})

	st := watchResult(t, env)
	require.Len(t, *calls, 1)
	require.Equal(t, "new version of openssl-3.0.8-1.el9.x86_64 from "+securityRepo, (*calls)[0].In.Reason)
	require.Empty(t, st.Added)
	env.AssertNotCalled(t, "AddStaged", mock.Anything, mock.Anything)
}

func TestOverlayWatchNeedsAnOverlay(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.ExecuteWorkflow(OverlayWatch, OverlayWatchInput{})
	require.ErrorContains(t, env.GetWorkflowError(), "needs the overlay's name")
}

// Issue 16 #10: a vendor source being retried (here for an hour, then
// failing) held the bypass: auto fix another source had found. The
// bypass starts once the bypass sources are checked; the vendor's
// failure is still reported.
func TestOverlayWatchBypassDoesNotWaitForOtherSources(t *testing.T) {
	ssl := staged(securityRepo, "openssl-3.0.8-1.el9.x86_64")
	env := newBareWatchEnv(watchPlan)
	env.OnActivity(sourceActs.CheckSource, mock.Anything, activities.CheckSourceInput{Overlay: "site", Source: securityRepo}).
		Return(activities.SourceCheck{Source: securityRepo, New: []activities.StagedPackage{ssl}}, nil)
	env.OnActivity(sourceActs.CheckSource, mock.Anything, activities.CheckSourceInput{Overlay: "site", Source: vendorListing}).
		After(time.Hour).Return(activities.SourceCheck{}, temporal.NewNonRetryableApplicationError("GET "+vendorListing+": HTTP 503", "x", nil))
	env.OnActivity(sourceActs.RecordBypass, mock.Anything, mock.Anything).Return(nil)
	var started time.Duration
	var start time.Time
	env.OnWorkflow(BypassWorkflowType, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, _ BypassInput) error {
		started = workflow.Now(ctx).Sub(start)
		return nil
	})
	start = env.Now()

	env.ExecuteWorkflow(OverlayWatch, OverlayWatchInput{Overlay: "site"})

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.ErrorContains(t, err, "source "+vendorListing+": GET "+vendorListing+": HTTP 503")
	require.Less(t, started, time.Minute, "the bypass waited %s for the vendor source", started)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	var st OverlayWatchStatus
	require.NoError(t, appErr.Details(&st))
	require.Equal(t, []string{ssl.NEVRA}, st.BypassPackages)
	require.Equal(t, WatchFailed, st.Phase)
}

// A watch started before overlaywatch-bypass-first keeps its order of
// commands (add, then bypass) on replay; a new one bypasses first.
func TestOverlayWatchBypassFirstIsVersioned(t *testing.T) {
	for _, tt := range []struct {
		version workflow.Version
		order   []string
	}{
		{workflow.DefaultVersion, []string{"add", "bypass"}},
		{1, []string{"bypass", "add"}},
	} {
		t.Run(fmt.Sprint(tt.version), func(t *testing.T) {
			ssl := staged(securityRepo, "openssl-3.0.8-1.el9.x86_64")
			app := staged(vendorListing, "vendor-app-1.1-1.x86_64")
			env, _ := newWatchEnv(t, map[string]activities.SourceCheck{
				vendorListing: {New: []activities.StagedPackage{app}},
				securityRepo:  {New: []activities.StagedPackage{ssl}},
			})
			env.OnGetVersion(versionWatchBypassFirst, workflow.DefaultVersion, 1).Return(tt.version)
			var order []string
			env.OnActivity(sourceActs.RecordBypass, mock.Anything, mock.Anything).Return(func(context.Context, activities.RecordBypassInput) error {
				order = append(order, "bypass")
				return nil
			})
			env.OnActivity(sourceActs.AddStaged, mock.Anything, mock.Anything).Return(func(context.Context, activities.AddStagedInput) (activities.AddStagedResult, error) {
				order = append(order, "add")
				return activities.AddStagedResult{Added: []string{app.NEVRA}}, nil
			})
			env.ExecuteWorkflow(OverlayWatch, OverlayWatchInput{Overlay: "site"})
			st := watchResult(t, env)
			require.Equal(t, tt.order, order)
			require.Equal(t, []string{app.NEVRA}, st.Added)
			require.Equal(t, []string{ssl.NEVRA}, st.BypassPackages)
		})
	}
}
