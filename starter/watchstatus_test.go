package starter

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/workflows"
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
		{name: "held builds", watches: []WatchView{
			{Overlay: "security", LastAt: &at, Next: &next, Outcome: "no new version", Held: []HeldView{
				{NEVRA: "openssl-3.0.8-1.noarch", Why: "rejected by alice: wait (bypass b1)", Retry: "osflow overlay retry security openssl-3.0.8-1.noarch"},
				{NEVRA: "openssl-3.0.9-1.noarch", Why: "bypass b2 is running: approve or reject it"},
			}},
		}, want: "\nWATCHED VENDOR SOURCES\n" +
			"  security     last 2026-12-02 09:30: no new version; next 2026-12-02 10:00\n" +
			"               held openssl-3.0.8-1.noarch: rejected by alice: wait (bypass b1)\n" +
			"                 offer it again at the next check: osflow overlay retry security openssl-3.0.8-1.noarch\n" +
			"               held openssl-3.0.9-1.noarch: bypass b2 is running: approve or reject it\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			printWatches(&b, tc.watches)
			require.Equal(t, tc.want, b.String())
		})
	}
}

// Issue 16 #10: status says why a watched build is held: its bypass was
// rejected, refused by its checks, or failed later.
func TestHeldReason(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   workflows.BypassStatus
		want string
	}{
		{name: "rejected", st: workflows.BypassStatus{Approval: workflows.Approval{State: workflows.ApprovalRejected, By: "alice", Comment: "wait for 3.0.9"},
			Error: "rejected by alice: wait for 3.0.9"}, want: "rejected by alice: wait for 3.0.9 (bypass b1)"},
		{name: "refused", st: workflows.BypassStatus{Steps: []workflows.Step{{Name: "read the bypass policy", Status: "done"},
			{Name: "check the packages", Status: "failed", Detail: "openssl-3.0.8-1.noarch.rpm: package openssl is not allowed in overlay site (bypass.allow: hpc*)"}},
			Error: "check the packages: ..."}, want: "refused: openssl-3.0.8-1.noarch.rpm: package openssl is not allowed in overlay site (bypass.allow: hpc*) (bypass b1)"},
		{name: "failed later", st: workflows.BypassStatus{Steps: []workflows.Step{{Name: "check the packages", Status: "done"},
			{Name: "add, snapshot and switch testing and production", Status: "failed", Detail: "dnf: nothing provides libfoo"}},
			Error: "add, snapshot and switch testing and production: dnf: nothing provides libfoo"},
			want: "bypass failed: add, snapshot and switch testing and production: dnf: nothing provides libfoo (bypass b1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, heldReason("b1", tc.st))
		})
	}
}
