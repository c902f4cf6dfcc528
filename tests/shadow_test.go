package tests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/integrations/repo/upstream"
)

// TestBypassedBuildShadowsUpstream is issue 16's case 9: a site build of
// openssl-3.0.2-1 goes to the channels through a bypass, then the
// upstream publishes its own build of the same NEVRA. The next daily
// sync's release serves both; real dnf, reading `osflow repo files`,
// installs the overlay's build; the release recorded the duplicate, and
// the diff the candidate page and risk report are made from, and `osflow
// repo diff`, name it.
func TestBypassedBuildShadowsUpstream(t *testing.T) {
	s, _ := newBypassSite(t, "e2e-shadow")
	ctx := context.Background()
	build := func(who string) upstream.Spec {
		return upstream.Spec{Name: "openssl", Version: "3.0.2", Release: "1",
			Files: map[string]string{"/usr/share/openssl/build.txt": who + " build\n"}}
	}
	vendor := t.TempDir()
	rpms, err := upstream.BuildSpecs(ctx, []upstream.Spec{build("site")}, vendor)
	require.NoError(t, err)
	out, err := s.osflow("bypass", "site", rpms[0], "--reason", "CVE-2026-1234", "--as", "carol", "--wait")
	require.NoError(t, err, out)

	s.publish("baseos", build("upstream"))
	rel := s.sync().Release
	require.Equal(t, rel, s.channel("daily"))
	served := s.channel("testing") // the daily release, or one derived from it carrying the bypass

	node := filepath.Join(s.dir, "node-shadow")
	out = s.dnf(node, "testing", "install", "openssl")
	got, err := os.ReadFile(filepath.Join(node, "usr/share/openssl/build.txt"))
	require.NoError(t, err)
	require.Equal(t, "site build\n", string(got), "dnf installed the upstream's build of the NEVRA the overlay serves:\n%s", out)

	shadows, err := s.store.ReleaseShadows(served)
	require.NoError(t, err)
	require.Len(t, shadows, 1, "%+v", shadows)
	require.Equal(t, "openssl-3.0.2-1.noarch", shadows[0].NEVRA)
	winner, ok := shadows[0].Winner()
	require.True(t, ok)
	require.Equal(t, "site", winner.Repo)
	require.Equal(t, "baseos", shadows[0].Copies[1].Repo)
	require.NotEqual(t, winner.Checksum, shadows[0].Copies[1].Checksum)

	t.Run("the diff against production names it", func(t *testing.T) {
		acts := &activities.RepoActivities{Store: s.store, Config: s.cfg}
		risk, err := acts.PackageRisk(ctx, activities.DiffSummaryInput{From: "production", To: served})
		require.NoError(t, err)
		require.Equal(t, []string{shadows[0].String()}, risk.Diff.Shadows)
		require.Contains(t, activities.RenderRisk(activities.RiskReport{Release: served, Packages: risk}),
			"- openssl-3.0.2-1.noarch: overlay site (sha256 "+winner.Checksum.Hex[:12]+"…) shadows baseos (sha256 ")
		out, err := s.osflow("repo", "diff", "production", "testing")
		require.NoError(t, err, out)
		require.Contains(t, out, "  ! "+shadows[0].String()+"\n")
		require.True(t, strings.HasPrefix(out, s.channel("production")+" -> "+served), out)
	})
}
