package workflows

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/activities"
)

// Operator payloads decode strictly: each refusal names the field.
func TestStrictJSON(t *testing.T) {
	for _, tc := range []struct {
		name, payload, want string
	}{
		{"exact", `{"Approver":"alice","Comment":"go","WindowStart":"2026-12-24T20:00:00Z","Statement":"s"}`, ""},
		{"null field", `{"Approver":"alice","Comment":null}`, ""},
		{"unknown field", `{"Approver":"alice","Window":"4h"}`,
			`unknown field "Window": the fields are Approver, Comment, WindowStart, WindowEnd, Statement, Signature`},
		{"wrong case", `{"approver":"alice"}`, `unknown field "approver": field names are case-sensitive, did you mean "Approver"?`},
		{"wrong type", `{"Approver":5}`, `field "Approver": want string: json: cannot unmarshal number into Go value of type string`},
		{"bad time", `{"Approver":"alice","WindowStart":"tomorrow"}`, `field "WindowStart": want time.Time: parsing time "tomorrow"`},
		{"not an object", `["alice"]`, "the payload is not a JSON object of Approver, Comment, WindowStart, WindowEnd, Statement, Signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := strictJSON(reflect.TypeFor[ApproveRequest](), []byte(tc.payload))
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// A loose payload reaches neither the approval nor the state: the Update
// is refused to its caller with the field named, the Signal is refused and
// listed in the status; the promotion still waits.
func TestPromotionRefusesLoosePayloads(t *testing.T) {
	w := &world{production: "r1", testing: "r2"}
	env := newPromotionEnv(t, w)
	var unknown, wrongCase, wrongType answer
	sendUpdate[Approval](env, time.Minute, UpdateApproveOutage, json.RawMessage(`{"Approver":"alice","Comment":"go","WindowStart":"2030-01-01T20:00:00Z","Window":"4h"}`), &unknown)
	sendUpdate[Approval](env, 2*time.Minute, UpdateApproveOutage, json.RawMessage(`{"approver":"alice","WindowStart":"2030-01-01T20:00:00Z"}`), &wrongCase)
	sendUpdate[Note](env, 3*time.Minute, UpdateComment, json.RawMessage(`{"By":"carol","Text":7}`), &wrongType)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalApproveOutage, json.RawMessage(`{"Approver":"alice","WindowStart":"2030-01-01T20:00:00Z","window":"4h"}`))
		env.SignalWorkflow(UpdateComment, json.RawMessage(`{"By":"carol","Text":["a"]}`))
	}, 4*time.Minute)
	var st PromotionStatus
	env.RegisterDelayedCallback(func() {
		st = queryPromotion(t, env)
		env.CancelWorkflow()
	}, time.Hour)
	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})

	require.ErrorContains(t, unknown.refused, `unknown field "Window"`)
	require.ErrorContains(t, wrongCase.refused, `unknown field "approver": field names are case-sensitive, did you mean "Approver"?`)
	require.ErrorContains(t, wrongType.refused, `field "Text": want string`)
	require.Equal(t, ApprovalPending, st.Approval.State)
	require.Empty(t, st.Comments)
	require.Len(t, st.Refused, 2, "%q", st.Refused)
	require.Contains(t, st.Refused[0], `approve-outage from "alice" refused: unknown field "window": the fields are Approver, Comment`)
	require.Contains(t, st.Refused[1], `comment from "carol" refused: field "Text": want string`)
}

// The test cycle's commands read their payloads as strictly: a freeze
// Update with a misspelt field is refused to its caller, a task-done
// Signal with one is listed as refused, and testing stays unfrozen.
func TestCycleRefusesLoosePayloads(t *testing.T) {
	env, tc := newCycleEnv(t, cyclePlan)
	env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).Return(passingSuite)
	env.OnActivity(ticketActs.ProcessResults, mock.Anything, mock.Anything).Return(activities.TicketSummary{New: []string{"OSF-1"}}, nil)
	tc.serve(env, time.Minute, "r1")
	var freeze answer
	sendUpdate[FreezeResult](env, 10*time.Minute, UpdateFreeze, json.RawMessage(`{"frozen":true,"Actor":"alice","Reason":"hold"}`), &freeze)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalTaskDone, json.RawMessage(`{"Task":"firmware","By":"alice","Done":true}`))
	}, 11*time.Minute)
	var st TestCycleState
	env.RegisterDelayedCallback(func() { st = queryCycle(t, env) }, 20*time.Minute)
	env.RegisterDelayedCallback(env.CancelWorkflow, 30*time.Minute)

	env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{})

	require.ErrorContains(t, freeze.refused, `unknown field "frozen": field names are case-sensitive, did you mean "Frozen"?`)
	require.False(t, st.Frozen)
	require.Len(t, st.Refused, 1)
	require.Contains(t, st.Refused[0], `task-done from "alice" refused: unknown field "Done": the fields are Task, By`)
}
