package repo

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBypassCarriesIntoEverySwitch(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	day := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	b1 := simpleSnapshot(t, s, "base", "b1", day)
	s1 := simpleSnapshot(t, s, "site", "s1", day)
	r1 := release(t, s, day, map[string]string{"base": b1.ID, "site": s1.ID})
	for _, ch := range []string{"testing", "production"} {
		_, err := s.Switch(ctx, SwitchRequest{Channel: ch, Release: r1.ID, Actor: "ops", Reason: "setup"})
		require.NoError(t, err)
	}
	_, err := s.SetFreeze(ctx, FreezeRequest{Channel: "testing", Frozen: true, Release: r1.ID, Actor: "alice", Reason: "gate"})
	require.NoError(t, err)

	// The bypass: a new overlay snapshot on testing (frozen) and production.
	s2 := simpleSnapshot(t, s, "site", "s2-openssl-fix", day.Add(time.Hour))
	req := BypassRequest{Overlay: "site", Snapshot: s2.ID, Channels: []string{"testing", "production"},
		Bypass: "bypass-site-1", Key: "bypass-site-1/run/apply", Actor: "cli/bob", Reason: "CVE-2026-1234", Packages: []string{"openssl-3.0.7-2.x86_64"}}
	rec, err := s.ApplyBypass(ctx, req)
	require.NoError(t, err)
	require.Len(t, rec.Switches, 2)
	bypassed := rec.Switches[1].To
	for _, ch := range []string{"testing", "production"} {
		cur, err := s.Channel(ch)
		require.NoError(t, err)
		require.Equal(t, bypassed, cur, "%s serves the bypass", ch)
	}
	rel, err := s.Release(bypassed)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"base": b1.ID, "site": s2.ID}, rel.Repos, "the release served, with only the overlay replaced")
	base, err := s.ReleaseBase(bypassed)
	require.NoError(t, err)
	require.Equal(t, r1.ID, base)
	fz, err := s.Frozen("testing")
	require.NoError(t, err)
	require.Equal(t, bypassed, fz.Release, "the freeze moved with the bypass")
	require.Equal(t, "alice", fz.Actor)

	again, err := s.ApplyBypass(ctx, req)
	require.NoError(t, err)
	require.Equal(t, rec.Switches[0].Key, again.Switches[0].Key, "a retry returns the recorded bypass")
	all, err := s.Bypasses()
	require.NoError(t, err)
	require.Len(t, all, 1)

	// A daily sync that snapshotted the overlay before the bypass: its
	// switch carries the bypass.
	b2 := simpleSnapshot(t, s, "base", "b2", day.Add(2*time.Hour))
	r2 := release(t, s, day.Add(2*time.Hour), map[string]string{"base": b2.ID, "site": s1.ID})
	sw, err := s.Switch(ctx, SwitchRequest{Channel: "daily", Release: r2.ID, Actor: "dailysync", Reason: "daily", Key: "sync-2/daily"})
	require.NoError(t, err)
	require.Equal(t, r2.ID, sw.Requested)
	carried, err := s.Release(sw.To)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"base": b2.ID, "site": s2.ID}, carried.Repos)
	retry, err := s.Switch(ctx, SwitchRequest{Channel: "daily", Release: r2.ID, Actor: "dailysync", Reason: "daily", Key: "sync-2/daily"})
	require.NoError(t, err, "the retry of a carried switch answers from the log")
	require.Equal(t, sw.To, retry.To)

	// A later overlay snapshot (it holds the bypass's packages too) is not
	// replaced: nothing newer to carry.
	s3 := simpleSnapshot(t, s, "site", "s3", day.Add(3*time.Hour))
	r3 := release(t, s, day.Add(3*time.Hour), map[string]string{"base": b2.ID, "site": s3.ID})
	sw, err = s.Switch(ctx, SwitchRequest{Channel: "daily", Release: r3.ID, Actor: "dailysync", Reason: "daily", Key: "sync-3/daily"})
	require.NoError(t, err)
	require.Equal(t, r3.ID, sw.To)
	require.Empty(t, sw.Requested)

	_, err = s.ApplyBypass(ctx, BypassRequest{Overlay: "site", Snapshot: s3.ID, Key: "k"})
	require.ErrorIs(t, err, ErrInvalid, "a bypass says who and why")

	// Production serves a release derived from r1: the promotions of r1
	// count, and only a later one settles the bypass.
	pending, err := s.BypassesSincePromotion("production")
	require.NoError(t, err)
	require.Len(t, pending, 1, "no promotion yet: the bypass is listed")
	require.NoError(t, s.RecordPromotion(ctx, r1.ID, PromotionRecord{Key: "p1", Promotion: "promotion-r1", Channel: "production", Time: rec.Time.Add(-time.Hour)}))
	pending, err = s.BypassesSincePromotion("production")
	require.NoError(t, err)
	require.Len(t, pending, 1, "a promotion before the bypass does not settle it")
	require.NoError(t, s.RecordPromotion(ctx, r1.ID, PromotionRecord{Key: "p2", Promotion: "promotion-r1", Channel: "production", Time: rec.Time.Add(time.Minute)}))
	pending, err = s.BypassesSincePromotion("production")
	require.NoError(t, err)
	require.Empty(t, pending)
}
