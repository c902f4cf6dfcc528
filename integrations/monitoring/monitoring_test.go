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
	require.Equal(t, "no silences to end", ended.Summary(ids))
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

// The summary counts every silence made that does not remain as ended:
// a retried Expire no longer sees what Nagios deleted at the first try.
func TestExpiredSummary(t *testing.T) {
	made := []string{"nagios:host:1", "nagios:host:2", "nagios:service:3"}
	hand := func(id string) Remaining { return Remaining{ID: id, EndByHand: "del " + id} }
	for _, tc := range []struct {
		name string
		made []string
		e    Expired
		want string
	}{
		{name: "nothing made", want: "no silences to end"},
		{name: "all ended", made: made, e: Expired{Ended: made}, want: "3 of 3 silences ended"},
		{name: "retry saw none", made: made, want: "3 of 3 silences ended"},
		{name: "one remains", made: made, e: Expired{Remaining: []Remaining{hand("nagios:service:3")}},
			want: "2 of 3 silences ended; 1 remains: nagios:service:3 (end it by hand: del nagios:service:3)"},
		{name: "one more than made remains", made: made, e: Expired{Ended: made[:1], Remaining: []Remaining{hand("nagios:host:2"), hand("nagios:host:9")}},
			want: "2 of 4 silences ended; 2 remain: nagios:host:2 (end it by hand: del nagios:host:2), nagios:host:9 (end it by hand: del nagios:host:9)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.e.Summary(tc.made))
		})
	}
}
