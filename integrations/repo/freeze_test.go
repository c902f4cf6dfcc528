package repo

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFreezeHoldsTheChannel(t *testing.T) {
	ctx := context.Background()
	s, rels := handlerFixture(t)
	_, err := s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[0], Actor: "ci", Reason: "first"})
	require.NoError(t, err)
	freeze := func(actor, reason, release, key string) (*Freeze, error) {
		return s.SetFreeze(ctx, FreezeRequest{Channel: "testing", Frozen: true, Release: release, Actor: actor, Reason: reason, Key: key})
	}

	_, err = freeze("alice", "", rels[0], "")
	require.ErrorIs(t, err, ErrInvalid, "a freeze says why")
	_, err = freeze("alice", "gate", "", "")
	require.ErrorIs(t, err, ErrInvalid, "a freeze names its release")
	_, err = freeze("alice", "gate", rels[1], "")
	require.ErrorIs(t, err, ErrInvalid, "a freeze at a release the channel does not serve")
	require.ErrorContains(t, err, "serves "+rels[0])

	fz, err := freeze("alice", "gate converging", rels[0], "op-1")
	require.NoError(t, err)
	require.Equal(t, rels[0], fz.Release)
	again, err := freeze("alice", "gate converging", rels[0], "op-1")
	require.NoError(t, err)
	require.Equal(t, fz.Key, again.Key, "a retry returns the recorded freeze")

	_, err = s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[1], Actor: "dailysync", Reason: "daily"})
	require.True(t, errors.Is(err, ErrFrozen), "%v", err)
	require.Contains(t, err.Error(), "alice")
	require.Contains(t, err.Error(), "osflow unfreeze")
	cur, err := s.Channel("testing")
	require.NoError(t, err)
	require.Equal(t, rels[0], cur)
	_, err = s.Switch(ctx, SwitchRequest{Channel: "daily", Release: rels[1], Actor: "dailysync", Reason: "daily"})
	require.NoError(t, err, "other channels still move")

	// A conditional unfreeze lets go only of its own freeze.
	held, err := s.SetFreeze(ctx, FreezeRequest{Channel: "testing", Actor: "rehearsal", Reason: "done", IfKey: "rehearsal-1"})
	require.NoError(t, err)
	require.Equal(t, "alice", held.Actor, "alice's freeze stays")

	// Bob takes the freeze over; then it is released.
	fz, err = freeze("bob", "outage next week", rels[0], "op-2")
	require.NoError(t, err)
	require.Equal(t, "bob", fz.Actor)
	fz, err = s.SetFreeze(ctx, FreezeRequest{Channel: "testing", Actor: "bob", Reason: "done", Key: "op-3"})
	require.NoError(t, err)
	require.Nil(t, fz)
	fz, err = s.Frozen("testing")
	require.NoError(t, err)
	require.Nil(t, fz)
	_, err = s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[1], Actor: "dailysync", Reason: "daily"})
	require.NoError(t, err)

	log, err := s.History("testing")
	require.NoError(t, err)
	var outcomes []string
	for _, e := range log {
		outcomes = append(outcomes, e.Outcome)
	}
	require.Equal(t, []string{OutcomeSwitched, OutcomeFreeze, OutcomeFreeze, OutcomeUnfreeze, OutcomeSwitched}, outcomes,
		"freezes are audited next to the switches")
}
