package activities

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/tickets"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(p, []byte(got), 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "run `go test ./activities -update` to create it")
	require.Equal(t, string(want), got)
}

func TestPlanTicketActions(t *testing.T) {
	open := []tickets.Ticket{
		{ID: "OSF-1", Fingerprint: "repoclosure/appstream"},
		{ID: "OSF-2", Fingerprint: "repoclosure/epel"},
		{ID: "OSF-3", Fingerprint: "install/base"},
		{ID: "OSF-9", Fingerprint: "repoclosure/appstream"}, // a duplicate filed by hand: the oldest is used
	}
	results := []SuiteResult{
		{Suite: "repoclosure", Cases: []CaseResult{
			{Suite: "repoclosure", Name: "baseos", Status: "failed", Message: "nothing provides libfoo.so.1"},
			{Suite: "repoclosure", Name: "appstream", Status: "failed", Message: "still"},
			{Suite: "repoclosure", Name: "epel", Status: "passed"},
			{Suite: "repoclosure", Name: "site", Status: "skipped"},
			{Suite: "repoclosure", Name: "baseos", Status: "failed", Message: "the same case twice"},
		}},
		{Suite: "install", Cases: []CaseResult{
			{Suite: "install", Name: "base", Status: "passed"},
			{Suite: "install", Name: SuiteRunCase, Status: "error", Message: "dnf: cannot download repomd.xml"},
		}},
	}
	for _, tt := range []struct {
		golden      string
		closeOnPass bool
	}{
		{"ticketplan-close.golden", true},
		{"ticketplan-keep.golden", false},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			plan := PlanTicketActions(TicketPlanInput{Release: "r2", Channel: "testing", Results: results, Open: open, CloseOnPass: tt.closeOnPass})
			golden(t, tt.golden, RenderTicketPlan(plan))
		})
	}
}
