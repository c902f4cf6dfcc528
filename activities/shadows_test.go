package activities

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo/repotest"
)

// TestDiffCarriesShadows: the diff the candidate page and the risk report
// are made from names the NEVRAs the target release serves twice, as the
// release recorded them.
func TestDiffCarriesShadows(t *testing.T) {
	st, _ := repotest.Store(t, 1)
	rel := repotest.ShadowedRelease(t, st)
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "osflow.yaml"),
		[]byte("store: "+st.Root()+"\nrepos:\n  - name: baseos\n    url: https://mirror.example.org/\n  - name: site\n    overlay: true\n"))
	require.NoError(t, err)
	a := &RepoActivities{Store: st, Config: cfg}
	want := []string{"hpc-base-tools-1.3-1.noarch: overlay site (sha256 " + sha256Prefix("hpc-base-tools built by site") +
		"…) shadows baseos (sha256 " + sha256Prefix("hpc-base-tools built by baseos") + "…)"}

	sum, err := a.DiffSummary(t.Context(), DiffSummaryInput{From: "production", To: rel})
	require.NoError(t, err)
	require.Equal(t, want, sum.Shadows)
	risk, err := a.PackageRisk(t.Context(), DiffSummaryInput{From: "production", To: rel})
	require.NoError(t, err)
	require.Equal(t, want, risk.Diff.Shadows)

	// Nothing to report of a release without, nor of a channel serving nothing.
	sum, err = a.DiffSummary(t.Context(), DiffSummaryInput{From: rel, To: "testing"})
	require.NoError(t, err)
	require.Empty(t, sum.Shadows)
}

// sha256Prefix is the first 12 hex digits of content's sha256, as a
// shadow names a build.
func sha256Prefix(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])[:12]
}
