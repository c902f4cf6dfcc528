package monitoring

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
)

func TestNew(t *testing.T) {
	s, err := New(config.Monitoring{}, nil)
	require.NoError(t, err)
	require.IsType(t, &None{}, s)
	ids, err := s.Silence(context.Background(), "k", Window{Start: time.Now(), End: time.Now().Add(time.Hour)}, "x")
	require.NoError(t, err)
	require.Empty(t, ids)
	ended, err := s.Expire(context.Background(), "k")
	require.NoError(t, err)
	require.Equal(t, Expired{}, ended)
	_, err = s.Silence(context.Background(), "k k", Window{}, "x")
	require.ErrorIs(t, err, failure.ErrInvalid)

	am := &config.Alertmanager{URL: "http://am:9093/", Matchers: []config.Matcher{{Name: "a", Value: "b", Equal: true}}}
	s, err = New(config.Monitoring{Alertmanager: am}, nil)
	require.NoError(t, err)
	require.IsType(t, &Alertmanager{}, s)
	s, err = New(config.Monitoring{Alertmanager: am, Nagios: &config.Nagios{Hostgroups: []string{"compute"}}}, nil)
	require.NoError(t, err)
	require.Len(t, s, 2)
	_, err = New(config.Monitoring{Alertmanager: &config.Alertmanager{URL: "http://am:9093/"}}, nil)
	require.ErrorIs(t, err, failure.ErrInvalid)
}

func TestKeyedComment(t *testing.T) {
	require.Equal(t, "outage of r1 by alice [osflow:promotion-r1/silence]", keyedComment(" outage of r1\n by  alice ", "promotion-r1/silence"))
	require.Equal(t, "osflow outage [osflow:k]", keyedComment("", "k"))
	require.True(t, hasMarker("x [osflow:k]", "k"))
	require.False(t, hasMarker("x [osflow:k2]", "k"))
	require.False(t, hasMarker("[osflow:k] edited afterwards", "k"))
	for _, bad := range []string{"", "a b", "a]b", "a;b", "-lead"} {
		require.ErrorIs(t, checkKey(bad), failure.ErrInvalid, bad)
	}
}
