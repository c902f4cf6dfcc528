package starter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWindowTimeZones: a window time is read in the zone it names, and
// only without one in the local zone (TZ), which the approver's machine
// and the cluster need not share.
func TestWindowTimeZones(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	newYork, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in    string
		local *time.Location
		want  time.Time
	}{
		{"2026-12-03T20:00:00+01:00", newYork, time.Date(2026, 12, 3, 19, 0, 0, 0, time.UTC)},
		{"2026-12-03T20:00:00Z", berlin, time.Date(2026, 12, 3, 20, 0, 0, 0, time.UTC)},
		{"2026-12-03 20:00 Europe/Berlin", newYork, time.Date(2026, 12, 3, 19, 0, 0, 0, time.UTC)},
		{"2026-12-03 20:00 UTC", berlin, time.Date(2026, 12, 3, 20, 0, 0, 0, time.UTC)},
		{"2026-07-03 20:00 Europe/Berlin", time.UTC, time.Date(2026, 7, 3, 18, 0, 0, 0, time.UTC)},
		{"2026-12-03 20:00", berlin, time.Date(2026, 12, 3, 19, 0, 0, 0, time.UTC)},
		{"2026-12-03 20:00", newYork, time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)},
		{"now", berlin, now},
		{"+2h", berlin, now.Add(2 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.in+" in "+tt.local.String(), func(t *testing.T) {
			got, err := windowTime(tt.in, now, tt.local)
			require.NoError(t, err)
			require.True(t, tt.want.Equal(got), "got %s, want %s", got.UTC(), tt.want)
		})
	}
}

func TestWindowTimeRefusesAnUnknownZone(t *testing.T) {
	for _, in := range []string{"2026-12-03 20:00 Europe/Berln", "2026-12-03 20:00 Local", "2026-12-03 20:00 ../../etc/passwd", "tomorrow 20:00"} {
		_, err := windowTime(in, time.Now(), time.UTC)
		require.Error(t, err, in)
		require.Contains(t, err.Error(), in)
	}
	_, err := windowTime("2026-12-03 20:00 Europe/Berln", time.Now(), time.UTC)
	require.ErrorContains(t, err, `no time zone "Europe/Berln": use an IANA name such as Europe/Berlin, or UTC`)
}

func TestWindowTextShowsUTCAndLocal(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	at := time.Date(2026, 12, 3, 19, 0, 0, 0, time.UTC)
	require.Equal(t, "2026-12-03 19:00 UTC (2026-12-03 20:00 CET)", windowText(at, berlin))
	require.Equal(t, "2026-12-03 19:00 UTC", windowText(at, time.UTC))
}

func TestTaskDoneHintNamesTheWaitingPromotion(t *testing.T) {
	tests := []struct {
		waiting []string
		want    string
	}{
		{nil, `; an outage task needs --promotion PROMOTION (no promotion waits for "firmware" now; osflow status lists the promotions)`},
		{[]string{"promotion-r1"}, "; an outage task needs --promotion PROMOTION: promotion-r1 waits for it: osflow task-done firmware --promotion promotion-r1 --as NAME"},
		{[]string{"promotion-r1", "promotion-r2"}, "; an outage task needs --promotion PROMOTION: promotion-r1, promotion-r2 wait for it"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, taskDoneHint("firmware", tt.waiting))
	}
}
