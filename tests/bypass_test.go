package tests

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

// osflow runs the CLI against the site and returns its output.
func (s *site) osflow(args ...string) (string, error) {
	s.t.Helper()
	var out strings.Builder
	err := starter.Execute(append([]string{"--config", s.cfg.Path}, args...), &out, &out)
	return out.String(), err
}

// newBypassSite is a site whose overlay "site" may be bypassed for
// openssl*, synced once, with testing and production on the release r1
// (baseos: hpc-base 1.0, openssl 3.0.1). No test round ever passes.
func newBypassSite(t *testing.T, ns string) (s *site, r1 string) {
	t.Helper()
	s = newSite(t, ns, map[string][]upstream.Spec{
		"baseos": {spec("hpc-base", "1.0"), spec("openssl", "3.0.1")},
	}, `  - name: site
    overlay: true
    bypass:
      allow: ["openssl*"]
testing:
  gate:
    cleanRounds: 99
`)
	r1 = s.sync().Release
	_, err := s.store.Switch(context.Background(), repo.SwitchRequest{Channel: "production", Release: r1, Actor: "e2e", Reason: "first production", Key: "e2e-setup"})
	require.NoError(t, err)
	return s, r1
}

// TestBypassReachesProductionAndStays is the emergency path end to end:
// a package outside the overlay's policy is refused and no channel moves;
// a fixed openssl goes through `osflow bypass` to testing and production,
// where real dnf upgrades to it; then neither the next daily sync nor a
// rollback to the release from before the bypass takes it away, and the
// status, diff and audit show it.
func TestBypassReachesProductionAndStays(t *testing.T) {
	s, r1 := newBypassSite(t, "e2e-bypass")
	ctx := context.Background()
	root := filepath.Join(s.dir, "node")
	s.dnf(root, "production", "install", "openssl", "hpc-base")
	require.Equal(t, "openssl-3.0.1-1", installed(t, root, "openssl"))

	vendor := t.TempDir()
	rpms, err := upstream.BuildSpecs(ctx, []upstream.Spec{spec("openssl", "3.0.2"), spec("bash", "5.2")}, vendor)
	require.NoError(t, err)
	fixed, bash := pick(t, rpms, "openssl-3.0.2"), pick(t, rpms, "bash-5.2")

	t.Run("a package outside bypass.allow is refused and nothing moves", func(t *testing.T) {
		out, err := s.osflow("bypass", "site", bash, "--reason", "not a security fix", "--wait")
		require.Error(t, err)
		require.Contains(t, err.Error()+out, "package bash is not allowed in overlay site (bypass.allow: openssl*)")
		require.Equal(t, r1, s.channel("testing"))
		require.Equal(t, r1, s.channel("production"))
		bypasses, err := s.store.Bypasses()
		require.NoError(t, err)
		require.Empty(t, bypasses)
	})

	out, err := s.osflow("--json", "bypass", "site", fixed, "--reason", "CVE-2026-1234: openssl RCE", "--as", "carol", "--wait")
	require.NoError(t, err, out)
	var answer struct {
		Applied bool
		Result  workflows.BypassStatus
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &answer), out)
	require.True(t, answer.Applied)
	st := answer.Result
	require.Equal(t, workflows.PhaseDone, st.Phase, out)
	require.Equal(t, []string{"openssl-3.0.2-1.noarch"}, nevras(st.Packages))
	require.Equal(t, "openssl-3.0.1-1.noarch", st.Packages[0].Replaces)
	require.NotEmpty(t, st.Ticket.ID, "a tracking ticket is filed")
	require.Len(t, st.Switches, 2)
	bypassed := s.channel("production")
	require.NotEqual(t, r1, bypassed)
	require.Equal(t, bypassed, s.channel("testing"), "testing and production serve the same bypassed release")
	for _, step := range st.Steps {
		require.Equal(t, "done", step.Status, "%+v", step)
	}

	s.dnf(root, "production", "upgrade")
	require.Equal(t, "openssl-3.0.2-1", installed(t, root, "openssl"), "the node upgrades to the fix")

	t.Run("the cycle is woken for the bypassed testing release", func(t *testing.T) {
		s.cycleState(func(cs workflows.TestCycleState) bool { return cs.Current == bypassed }, "the cycle on "+bypassed)
	})

	t.Run("the next daily sync keeps the fix", func(t *testing.T) {
		s.publish("baseos", spec("hpc-base", "1.1"))
		next := s.sync()
		require.NotEqual(t, bypassed, next.Release)
		require.Contains(t, s.available("node-available", "testing"), "openssl-3.0.2-1", "testing's new release holds the fix")
		node := filepath.Join(s.dir, "node-testing")
		s.dnf(node, "testing", "install", "openssl")
		require.Equal(t, "openssl-3.0.2-1", installed(t, node, "openssl"))
	})

	t.Run("a rollback to the release from before the bypass keeps the fix", func(t *testing.T) {
		sw, err := starter.Rollback(ctx, s.client, s.cfg, activities.RollbackInput{
			Channel: "production", To: r1, Actor: "cli/e2e", Reason: "back to r1",
		})
		require.NoError(t, err)
		recordLatest(t, s.client, "ChannelRollback", "rollback-v3")
		rel, err := s.store.Release(sw.To)
		require.NoError(t, err)
		require.Equal(t, st.Snapshot, rel.Repos["site"], "the rollback target carries the bypass")
		s.dnf(root, "production", "distro-sync")
		require.Equal(t, "openssl-3.0.2-1", installed(t, root, "openssl"))
	})

	t.Run("diff, status and audit show the bypass", func(t *testing.T) {
		d, err := s.store.DiffReleases(r1, bypassed)
		require.NoError(t, err)
		require.Len(t, d.Repos["site"].Added, 1)
		require.Equal(t, "openssl", d.Repos["site"].Added[0].Name)

		out, err := s.osflow("status", "--json")
		require.NoError(t, err, out)
		var status starter.Status
		require.NoError(t, json.Unmarshal([]byte(out), &status), out)
		require.Len(t, status.Bypasses, 1)
		require.Equal(t, "cli/carol", status.Bypasses[0].Actor)
		require.Equal(t, []string{"openssl-3.0.2-1.noarch"}, status.Bypasses[0].Packages)

		audit, err := starter.Audit(s.store, s.cfg, "production")
		require.NoError(t, err)
		var verdicts []string
		for _, e := range audit {
			verdicts = append(verdicts, e.Verdict)
		}
		require.Contains(t, strings.Join(verdicts, "\n"), "emergency bypass by cli/carol on top of "+r1)
	})

	bypasses, err := s.store.Bypasses()
	require.NoError(t, err)
	require.Len(t, bypasses, 1)
	recordHistory(t, s.client, bypasses[0].Bypass, "", "bypass-v3")
}

// TestBypassTakesOnlyTheNamedPackages: a package added to the overlay and
// waiting for its test cycle does not ride along with a bypass of another
// one. Production gets its overlay plus the bypassed package, testing too,
// and the waiting package reaches testing with the next daily sync, and
// production only through a promotion.
func TestBypassTakesOnlyTheNamedPackages(t *testing.T) {
	s, r1 := newBypassSite(t, "e2e-bypass-named")
	ctx := context.Background()
	rpms, err := upstream.BuildSpecs(ctx, []upstream.Spec{spec("openssl", "3.0.2"), spec("site-tool", "1.0")}, t.TempDir())
	require.NoError(t, err)
	fix, waiting := pick(t, rpms, "openssl-3.0.2"), pick(t, rpms, "site-tool-1.0")

	out, err := s.osflow("overlay", "add", "site", waiting)
	require.NoError(t, err, out)
	out, err = s.osflow("bypass", "site", fix, "--reason", "CVE-2026-1234", "--as", "carol", "--wait")
	require.NoError(t, err, out)
	production := s.channel("production")
	require.Contains(t, out, "production ("+r1+" -> "+production+")", "the CLI says what moved")

	offered := s.available("node-production", "production")
	require.Contains(t, offered, "openssl-3.0.2-1", "production offers the fix")
	require.NotContains(t, offered, "site-tool-1.0-1", "production does not offer the package waiting in the overlay")
	offered = s.available("node-testing", "testing")
	require.Contains(t, offered, "openssl-3.0.2-1")
	require.NotContains(t, offered, "site-tool-1.0-1", "testing gets it with its daily sync, not with the bypass")
	bypasses, err := s.store.Bypasses()
	require.NoError(t, err)
	require.Len(t, bypasses, 1)
	require.Equal(t, []string{"openssl-3.0.2-1.noarch"}, bypasses[0].Packages)

	s.sync()
	offered = s.available("node-testing", "testing")
	require.Contains(t, offered, "site-tool-1.0-1", "the daily sync brings the waiting package to testing")
	require.Contains(t, offered, "openssl-3.0.2-1")
	require.Equal(t, production, s.channel("production"))
	require.NotContains(t, s.available("node-production", "production"), "site-tool-1.0-1")
}

// available lists name-version-release of every package dnf offers on
// a channel, from a scratch install root.
func (s *site) available(root, channel string) []string {
	s.t.Helper()
	out := s.dnf(filepath.Join(s.dir, root), channel, "repoquery", "--quiet", "--available", "--queryformat", "%{name}-%{version}-%{release}\n")
	return strings.Fields(out)
}

// pick returns the built RPM whose file name starts with prefix.
func pick(t *testing.T, files []string, prefix string) string {
	t.Helper()
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), prefix) {
			return f
		}
	}
	require.FailNow(t, "no "+prefix+" RPM built", "%v", files)
	return ""
}

func nevras(pkgs []activities.StagedRPM) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.NEVRA)
	}
	return out
}
