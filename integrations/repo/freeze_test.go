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
	_, err := s.Switch(ctx, "testing", rels[0], "ci", "first")
	require.NoError(t, err)

	require.ErrorIs(t, s.SetFreeze(ctx, "testing", true, "alice", ""), ErrInvalid, "a freeze says why")
	require.NoError(t, s.SetFreeze(ctx, "testing", true, "alice", "gate converging"))
	require.NoError(t, s.SetFreeze(ctx, "testing", true, "bob", "again"), "freezing twice is harmless")
	fz, err := s.Frozen("testing")
	require.NoError(t, err)
	require.Equal(t, "alice", fz.Actor, "the first freeze is kept")

	_, err = s.Switch(ctx, "testing", rels[1], "dailysync", "daily")
	require.True(t, errors.Is(err, ErrFrozen), "%v", err)
	require.Contains(t, err.Error(), "alice")
	require.Contains(t, err.Error(), "osflow unfreeze")
	cur, err := s.Channel("testing")
	require.NoError(t, err)
	require.Equal(t, rels[0], cur)
	_, err = s.Switch(ctx, "daily", rels[1], "dailysync", "daily")
	require.NoError(t, err, "other channels still move")

	require.NoError(t, s.SetFreeze(ctx, "testing", false, "alice", "done"))
	fz, err = s.Frozen("testing")
	require.NoError(t, err)
	require.Nil(t, fz)
	_, err = s.Switch(ctx, "testing", rels[1], "dailysync", "daily")
	require.NoError(t, err)
}
