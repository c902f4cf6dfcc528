package starter

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/workflows"
)

// Issue 17 #6: the README said `osflow status` shows the outage steps
// with their times; it showed the phase only, nothing of a merge-back
// and no gate once the candidate was made.
func TestStatusShowsStepsCommentsMergeBackAndTheCandidateGate(t *testing.T) {
	t.Setenv("TZ", "UTC")
	at := time.Date(2026, 12, 3, 19, 0, 0, 0, time.UTC)
	var v PromotionView
	promotionDetails(&v, workflows.PromotionStatus{
		Steps: []workflows.Step{
			{Name: "silence monitoring", Status: "done", Detail: "1 silences", Started: at, Ended: at.Add(2 * time.Second)},
			{Name: "task firmware", Status: "running", Started: at.Add(time.Minute)},
		},
		Comments: []workflows.Note{{By: "dave", Text: "deadline job until Friday\nsecond line", At: at}},
		Users:    []activities.TicketRef{{ID: "OSF-7", Title: "openmpi: mpirun hangs"}},
	})
	v.ID, v.Release, v.State, v.Phase, v.WaitingFor = "promotion-r2", "r2", "running", "outage", "manual task firmware"
	st := Status{Promotions: []PromotionView{v, {ID: "mergeback-r1", Release: "r1", Phase: "merge-back",
		WaitingFor: "conflict-resolved for puppet (ticket OSF-9): osflow conflict-resolved mergeback-r1 puppet --as NAME"}},
		Cycle: &CycleView{Phase: "idle", Release: "r2", Promoted: "r2",
			Candidate: candidateGate(&activities.Candidate{Release: "r2", Rounds: 3, Gate: []string{"passed: 2 clean rounds"}})}}
	var out bytes.Buffer
	(&app{stdout: &out}).printStatus(st)
	for _, want := range []string{
		"  step silence monitoring       done     " + at.Local().Format("15:04:05") + "-" + at.Add(2*time.Second).Local().Format("15:04:05") + " (2s) 1 silences\n",
		"  step task firmware            running  " + at.Add(time.Minute).Local().Format("15:04:05") + " \n",
		"  comment by dave at " + at.Local().Format("2006-01-02 15:04") + ": deadline job until Friday …\n",
		"  user report in its risk report OSF-7 openmpi: mpirun hangs\n",
		"MERGE-BACK mergeback-r1  release=r1",
		"waiting for conflict-resolved for puppet (ticket OSF-9): osflow conflict-resolved mergeback-r1 puppet --as NAME",
		"  candidate r2 passed the gate after 3 rounds:\n    passed: 2 clean rounds\n",
	} {
		require.Contains(t, out.String(), want)
	}
}
