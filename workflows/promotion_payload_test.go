package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
)

// Comments of the longest kind allowed, more than a promotion keeps, leave
// its status (its result and query answer) below 512 KiB whatever their
// number: the newest maxComments are kept, the dropped ones counted. (A
// thousand such comments made a 4 MB status before.)
func TestPromotionStatusStaysSmallWithManyComments(t *testing.T) {
	w := &world{production: "r1", testing: "r2"}
	env := newPromotionEnv(t, w)
	long := strings.Repeat("x", maxCommentLen)
	answers := make([]answer, maxComments+50)
	for i := range answers {
		sendUpdate[Note](env, time.Minute+time.Duration(i)*time.Second, UpdateComment, CommentRequest{By: "user", Text: long}, &answers[i])
	}
	var st PromotionStatus
	env.RegisterDelayedCallback(func() {
		st = queryPromotion(t, env)
		env.CancelWorkflow()
	}, 2*time.Hour)
	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})

	for i := range answers {
		require.NoError(t, answers[i].refused, "comment %d", i)
	}
	require.Len(t, st.Comments, maxComments)
	require.Equal(t, len(answers)-maxComments, st.CommentsDropped)
	require.Equal(t, long, st.Comments[maxComments-1].Text, "the newest kept whole")
	p, err := converter.GetDefaultDataConverter().ToPayload(st)
	require.NoError(t, err)
	require.Less(t, len(p.GetData()), 512<<10, "the status payload")
}
