package starter

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPrintWatches(t *testing.T) {
	at := time.Date(2026, 12, 2, 9, 30, 0, 0, time.Local)
	next := at.Add(30 * time.Minute)
	for _, tc := range []struct {
		name    string
		watches []WatchView
		want    string
	}{
		{name: "none configured", want: ""},
		{name: "added and paused", watches: []WatchView{
			{Overlay: "site", LastAt: &at, Next: &next, Outcome: "added vendor-app-1.1-1.noarch (the next daily sync takes it)"},
			{Overlay: "security", LastAt: &at, Paused: true, Outcome: "failed: source https://v/ refused x.rpm"},
			{Overlay: "new", Next: &next, Outcome: "never run"},
		}, want: "\nWATCHED VENDOR SOURCES\n" +
			"  site         last 2026-12-02 09:30: added vendor-app-1.1-1.noarch (the next daily sync takes it); next 2026-12-02 10:00\n" +
			"  security     last 2026-12-02 09:30: failed: source https://v/ refused x.rpm; paused\n" +
			"  new          last -: never run; next 2026-12-02 10:00\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			printWatches(&b, tc.watches)
			require.Equal(t, tc.want, b.String())
		})
	}
}
