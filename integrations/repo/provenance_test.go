package repo

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestProvenance(t *testing.T) {
	s := newStore(t)
	rel := releases(t, s, 1)[0]

	var c struct{ Gate []string }
	require.ErrorIs(t, s.Candidate(rel, &c), ErrNotFound, "a release that never became a candidate")
	require.NoError(t, s.RecordCandidate(rel, map[string]any{"Gate": []string{"ok: 2 of 2 clean rounds"}}))
	require.NoError(t, s.Candidate(rel, &c))
	require.Equal(t, []string{"ok: 2 of 2 clean rounds"}, c.Gate)
	require.ErrorIs(t, s.RecordCandidate("../../etc", c), ErrInvalid)

	rec := PromotionRecord{Key: "promotion-x/run/switch-production", Promotion: "promotion-x", Approver: "alice", Time: time.Now().UTC()}
	for range 2 { // a retried activity records once
		require.NoError(t, s.RecordPromotion(t.Context(), rel, rec))
	}
	rec.Outcome = "done"
	require.NoError(t, s.RecordPromotion(t.Context(), rel, rec))
	got, err := s.Promotions(rel)
	require.NoError(t, err)
	require.Len(t, got, 2, "the switch, then its outcome")
	require.Equal(t, "alice", got[0].Approver)
	require.Equal(t, "done", got[1].Outcome)
	require.ErrorIs(t, s.RecordPromotion(t.Context(), rel, PromotionRecord{}), ErrInvalid, "a record needs its key")

	// Garbage collection never deletes provenance.
	plan, err := s.PlanGC(GCPolicy{}, time.Now().Add(365*24*time.Hour))
	require.NoError(t, err)
	for _, item := range plan.Delete {
		require.NotContains(t, item.Path, "provenance")
	}
}
