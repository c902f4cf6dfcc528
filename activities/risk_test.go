package activities

import (
	"testing"
	"time"
)

func TestRenderRisk(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		risk      RiskReport
		want, not []string
	}{
		{name: "quiet", risk: RiskReport{Release: "r2", Production: "r1", Packages: PackageRisk{Diff: DiffSummary{Upgraded: 3}}},
			want: []string{"Production serves `r1` now", "3 upgraded", "None found"},
			not:  []string{"Emergency bypasses", "Downgrades or removals", "Same NEVRA"}},
		{name: "bypass and downgrade", risk: RiskReport{Release: "r2", Production: "r1+b", Packages: PackageRisk{
			Diff: DiffSummary{Downgraded: 1, Bypasses: []BypassNote{{ID: "bypass-site-1", Time: at, Overlay: "site", Packages: []string{"openssl-1:3.0.7-27.el9.x86_64"}, Actor: "cli/carol", Reason: "CVE-2026-1234"}}},
		}}, want: []string{"### Emergency bypasses since the last promotion",
			"- 2026-12-01 09:30Z `openssl-1:3.0.7-27.el9.x86_64` into site by cli/carol: CVE-2026-1234 (bypass-site-1)",
			"Downgrades or removals: check them before approving"}},
		{name: "shadowed NEVRA", risk: RiskReport{Release: "r2", Production: "r1", Packages: PackageRisk{
			Diff: DiffSummary{From: "production", To: "r2", Shadows: []string{shadowLine}},
		}}, want: []string{"### Same NEVRA, different builds", "- " + shadowLine + "\n"}, not: []string{"more (`osflow repo diff"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requirePage(t, RenderRisk(tc.risk), tc.want, tc.not)
		})
	}
}

func TestRenderRiskSummaryCountsShadows(t *testing.T) {
	for _, tc := range []struct {
		name      string
		diff      DiffSummary
		want, not []string
	}{
		{name: "none", not: []string{"Same NEVRA"}},
		{name: "listed and more", diff: DiffSummary{Shadows: []string{shadowLine}, MoreShadows: 2},
			want: []string{"Same NEVRA, different builds: 3 (the overlay's build wins; see the risk report).\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requirePage(t, RenderRiskSummary(RiskReport{Release: "r2", Packages: PackageRisk{Diff: tc.diff}}, "promotion-r2", false), tc.want, tc.not)
		})
	}
}

// Issue 17 #5: the risk report notification had counts only.
func TestRenderRiskSummaryNamesAdvisoriesGitChangesAndUsers(t *testing.T) {
	r := RiskReport{Release: "r2", Production: "r1",
		Packages: PackageRisk{Advisories: []Advisory{
			{ID: "RLSA-2026:1234", Type: "security", Severity: "Important", Title: "openssl security update", CVEs: []string{"CVE-2026-1"}},
			{ID: "RLBA-2026:7", Type: "bugfix", Title: "tzdata update"},
		}, MoreAdvisories: 3},
		Config: []GitChange{{Repo: "puppet", Base: "production", Head: "test", Commits: []string{"abc1234567 raise nofile (carol)"}, Conflicts: []string{"site.pp"}},
			{Repo: "ansible", FetchError: "auth refused"}},
		Monitoring: []GitChange{{Repo: "nagios"}},
		Users:      []TicketRef{{ID: "OSF-7", Title: "openmpi: mpirun hangs", URL: "file:///t/OSF-7.md"}},
	}
	requirePage(t, RenderRiskSummary(r, "promotion-r2", false), []string{
		"- RLSA-2026:1234 (security, Important) openssl security update — CVE-2026-1\n",
		"- RLBA-2026:7 (bugfix, unrated) tzdata update\n",
		"- ... and 3 more\n",
		"Configuration-management changes (test -> production):\n- puppet (test -> production):\n  - abc1234567 raise nofile (carol)\n  - CONFLICTS in site.pp",
		"- ansible: could not read the repository: auth refused\n",
		"Monitoring changes (test -> production):\n- nagios: nothing to merge\n",
		"Production users' input:\n- OSF-7 openmpi: mpirun hangs file:///t/OSF-7.md\n",
	}, nil)
}

// With signed decisions required, the notification's commands take --key:
// without it the promotion refuses them.
func TestRenderRiskSummarySignedCommands(t *testing.T) {
	r := RiskReport{Release: "r2", Production: "r1"}
	requirePage(t, RenderRiskSummary(r, "promotion-r2", true), []string{
		"Approve: osflow approve promotion-r2 --as NAME --key FILE --window-start TIME\n",
		"Reject:  osflow reject promotion-r2 --as NAME --key FILE --comment TEXT\n",
	}, nil)
	requirePage(t, RenderRiskSummary(r, "promotion-r2", false), []string{
		"Approve: osflow approve promotion-r2 --as NAME --window-start TIME\n",
	}, []string{"--key"})
}
