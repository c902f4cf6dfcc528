package tests

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/worker"
)

// -record saves workflow histories from the end-to-end runs into
// testdata under names that do not exist yet, and adds them to the
// manifest. Do it only for a deliberate, versioned change: the recorded
// histories are what running workflows in the field look like, so they
// are append-only (TestReplayManifest).
var record = flag.Bool("record", false, "record workflow histories into testdata/ under new names")

// recordHistory saves a finished workflow's history as name when -record
// is set. It refuses a name that is recorded already.
func recordHistory(t *testing.T, c client.Client, workflowID, runID, name string) {
	t.Helper()
	if !*record {
		return
	}
	require.NoError(t, refuseRecorded("testdata", name))
	ctx := context.Background()
	if runID == "" {
		desc, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
		require.NoError(t, err)
		runID = desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	}
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		hist.Events = append(hist.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	require.NoError(t, err)
	// Operation keys derive from the workflow's ID and run: a replay must
	// run under the same ones to take the same branches.
	exec, err := json.Marshal(workflow.Execution{ID: workflowID, RunID: runID})
	require.NoError(t, err)
	require.NoError(t, addRecording("testdata", name+".json", b))
	require.NoError(t, addRecording("testdata", name+".execution", exec))
}

// replay replays one recorded history, under its recorded execution when
// the recording kept it.
func replay(t *testing.T, file string) error {
	t.Helper()
	r := sdkworker.NewWorkflowReplayer()
	worker.Register(r)
	b, err := os.ReadFile(strings.TrimSuffix(file, ".json") + ".execution")
	if errors.Is(err, os.ErrNotExist) {
		return r.ReplayWorkflowHistoryFromJSONFile(nil, file)
	}
	require.NoError(t, err)
	var exec workflow.Execution
	require.NoError(t, json.Unmarshal(b, &exec))
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	hist, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	require.NoError(t, err)
	return r.ReplayWorkflowHistoryWithOptions(nil, hist, sdkworker.ReplayWorkflowHistoryOptions{OriginalExecution: exec})
}

// recordRuns saves every run of a workflow ID (a continue-as-new chain),
// oldest first, as name-1.json, name-2.json... when -record is set. It
// refuses a name that has recorded runs already, before it writes any.
func recordRuns(t *testing.T, c client.Client, workflowID, name string) {
	t.Helper()
	if !*record {
		return
	}
	old, err := filepath.Glob(filepath.Join("testdata", name+"-*.json"))
	require.NoError(t, err)
	require.Empty(t, old, "runs of %s are recorded already: recorded histories are append-only, record under a new name (see README, Upgrading osflow)", name)
	resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = %q", workflowID), PageSize: 100,
	})
	require.NoError(t, err)
	runs := resp.GetExecutions()
	slices.SortFunc(runs, func(a, b *workflowpb.WorkflowExecutionInfo) int {
		return a.GetStartTime().AsTime().Compare(b.GetStartTime().AsTime())
	})
	for i, r := range runs {
		recordHistory(t, c, workflowID, r.GetExecution().GetRunId(), fmt.Sprintf("%s-%d", name, i+1))
	}
}

// unreplayable are recordings that no versioning can make replay against
// the current code, with the reason. Each must still fail, and only with a
// non-determinism: anything else means the recording or the replayer
// broke, and a recording that replays again belongs with the others.
var unreplayable = map[string]string{
	"bypass-v1pre.json": "Bypass before 1f5097b checked dnf on testing, then on production; " +
		"since, both checks are scheduled in one workflow task, without a marker. " +
		"1f5097b changed no activity or type, so up to that task the two kinds of " +
		"history carry the same events and data, and no deterministic code can " +
		"emit one check for the first and two for the second. The current " +
		"behaviour stays: it is what the builds at sites record. A bypass that " +
		"was between its two checks during the upgrade from a build before " +
		"1f5097b blocks on its next workflow task (see README, Upgrading osflow).",
}

// recordLatest saves the history of the latest workflow of a type, for a
// workflow a starter ran without telling its ID, when -record is set.
func recordLatest(t *testing.T, c client.Client, workflowType, name string) {
	t.Helper()
	if !*record {
		return
	}
	var latest *workflowpb.WorkflowExecutionInfo
	require.Eventually(t, func() bool {
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("WorkflowType = %q", workflowType), PageSize: 100,
		})
		if err != nil || len(resp.GetExecutions()) == 0 {
			return false
		}
		latest = slices.MaxFunc(resp.GetExecutions(), func(a, b *workflowpb.WorkflowExecutionInfo) int {
			return a.GetStartTime().AsTime().Compare(b.GetStartTime().AsTime())
		})
		return true
	}, 30*time.Second, 100*time.Millisecond, "no %s workflow is visible", workflowType)
	recordHistory(t, c, latest.GetExecution().GetWorkflowId(), latest.GetExecution().GetRunId(), name)
}

// TestReplayRecordedHistories replays every recorded history against the
// current workflow code: a change that would break a running workflow
// (a non-determinism) fails here, before it reaches a cluster.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories; see README, Upgrading osflow")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			why, known := unreplayable[filepath.Base(f)]
			err := replay(t, f)
			if !known {
				require.NoError(t, err)
				return
			}
			require.Error(t, err, "%s replays now: take it off the unreplayable list (it was there because %s)", f, why)
			require.Contains(t, err.Error(), "[TMPRL1100]", "%s must fail with a non-determinism only", f)
		})
	}
	for name := range unreplayable {
		require.FileExists(t, filepath.Join("testdata", name), "the unreplayable list names a recording that does not exist")
	}
}
