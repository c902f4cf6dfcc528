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

// -record rewrites tests/testdata/*.json from the end-to-end runs. Do it
// only for a deliberate, versioned change: the recorded histories are what
// running workflows in the field look like.
var record = flag.Bool("record", false, "record workflow histories into testdata/")

// recordHistory saves a finished workflow's history when -record is set.
func recordHistory(t *testing.T, c client.Client, workflowID, runID, name string) {
	t.Helper()
	if !*record {
		return
	}
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
	require.NoError(t, os.WriteFile(filepath.Join("testdata", name+".json"), b, 0o644))
	// Operation keys derive from the workflow's ID and run: a replay must
	// run under the same ones to take the same branches.
	exec, err := json.Marshal(workflow.Execution{ID: workflowID, RunID: runID})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join("testdata", name+".execution"), exec, 0o644))
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
// oldest first, as name-1.json, name-2.json... when -record is set.
func recordRuns(t *testing.T, c client.Client, workflowID, name string) {
	t.Helper()
	if !*record {
		return
	}
	resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = %q", workflowID), PageSize: 100,
	})
	require.NoError(t, err)
	runs := resp.GetExecutions()
	slices.SortFunc(runs, func(a, b *workflowpb.WorkflowExecutionInfo) int {
		return a.GetStartTime().AsTime().Compare(b.GetStartTime().AsTime())
	})
	old, err := filepath.Glob(filepath.Join("testdata", name+"-*.json"))
	require.NoError(t, err)
	for _, f := range old {
		require.NoError(t, os.Remove(f))
	}
	old2, err := filepath.Glob(filepath.Join("testdata", name+"-*.execution"))
	require.NoError(t, err)
	for _, f := range old2 {
		require.NoError(t, os.Remove(f))
	}
	for i, r := range runs {
		recordHistory(t, c, workflowID, r.GetExecution().GetRunId(), fmt.Sprintf("%s-%d", name, i+1))
	}
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
			require.NoError(t, replay(t, f))
		})
	}
}
