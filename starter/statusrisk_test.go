package starter

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/activities"
)

// TestStatusListsAdvisoriesWithPackages: a promotion's status names the
// advisories of its risk report, each with the packages that carry it.
func TestStatusListsAdvisoriesWithPackages(t *testing.T) {
	risk := &activities.RiskReport{Packages: activities.PackageRisk{MoreAdvisories: 2, Advisories: []activities.Advisory{
		{ID: "RHSA-2026:1003", Type: "security", Severity: "Critical", Packages: []string{"kernel-5.14.0-3.el9.x86_64", "kernel-core-5.14.0-3.el9.x86_64"}, MorePackages: 4},
		{ID: "RHBA-2026:3001", Type: "bugfix", Packages: []string{"bear-4.2-1.el9.noarch"}},
	}}}
	var out bytes.Buffer
	a := &app{stdout: &out}
	a.printStatus(Status{Promotions: []PromotionView{{ID: "promotion-r2", Release: "r2", Advisories: advisoryLines(risk), RiskPage: "Release r2"}}})
	require.Contains(t, out.String(), "  advisories new to production (risk report: Release r2):\n"+
		"    RHSA-2026:1003 (security, Critical): kernel-5.14.0-3.el9.x86_64, kernel-core-5.14.0-3.el9.x86_64 and 4 more\n"+
		"    RHBA-2026:3001 (bugfix, unrated): bear-4.2-1.el9.noarch\n"+
		"    ... and 2 more (see the risk report)\n")
	require.Empty(t, advisoryLines(nil))
}
