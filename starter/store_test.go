package starter

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStoreCommandsOutsideAProjectRefuse runs the commands that read the
// store where there is no project: with the embedded dev configuration
// each refuses, names where it looked for a configuration and what to do,
// and leaves no .osflow/ behind (they used to create ./.osflow/store and
// show every channel as (none)).
func TestStoreCommandsOutsideAProjectRefuse(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("OSFLOW_CONFIG", "")
	tests := [][]string{
		{"status"},
		{"--json", "status"},
		{"repo", "releases"},
		{"repo", "diff", "testing", "production"},
		{"repo", "gc", "--dry-run"},
		{"overlay", "list", "site"},
		{"overlay", "add", "site", "x.rpm"},
		{"audit", "production"},
		{"promote", "--release", "20260101-aaaaaaaaaa"},
	}
	for _, args := range tests {
		t.Run(args[len(args)-1], func(t *testing.T) {
			out, stderr, code := run(t, args...)
			require.Equal(t, ExitUsage, code, stderr)
			require.Empty(t, out)
			for _, want := range []string{"no osflow project here", "--config", "$OSFLOW_CONFIG", "./osflow.yaml (none in " + dir + ")",
				"embedded dev configuration", filepath.Join(dir, ".osflow", "store") + " does not exist", "run osflow in the project directory"} {
				require.Contains(t, stderr, want)
			}
			_, err := os.Stat(filepath.Join(dir, ".osflow"))
			require.ErrorIs(t, err, os.ErrNotExist, "the command created a store")
		})
	}
}

// TestStoreMissingWithAConfigRefuses: a configured store that does not
// exist (no worker started yet, or not mounted here) is named, not created.
func TestStoreMissingWithAConfigRefuses(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, dir, "")
	require.NoError(t, os.Remove(filepath.Join(dir, "store")))
	out, stderr, code := run(t, "--config", p, "status")
	require.Equal(t, ExitUsage, code, stderr)
	require.Empty(t, out)
	require.Contains(t, stderr, "store "+filepath.Join(dir, "store")+" (store: in "+p+") does not exist: `osflow worker` creates it")
	_, err := os.Stat(filepath.Join(dir, "store"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestStatusInsideTheDevProject: with the embedded configuration in the
// project directory, where `make run` made .osflow/store, status reads it.
func TestStatusInsideTheDevProject(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("OSFLOW_CONFIG", "")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".osflow", "store"), 0o755))
	out, stderr, code := run(t, "--json", "repo", "releases")
	require.Equal(t, ExitOK, code, stderr)
	require.Equal(t, "[]\n", out)
}

// TestDevSuggestsARepoFileInTheProject: the dev setup's log and banner
// suggest writing testing's .repo file under its state directory, never
// into the dev machine's /etc/yum.repos.d.
func TestDevSuggestsARepoFileInTheProject(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("OSFLOW_CONFIG", "")
	a := &app{}
	cfg, err := a.loadConfig()
	require.NoError(t, err)
	require.Equal(t, "mkdir -p .osflow/try/testing && ./bin/osflow repo files testing > .osflow/try/testing/osflow.repo", tryRepoFile(cfg))
	require.Equal(t, "osflow repo files testing > /etc/yum.repos.d/osflow.repo", nodeRepoFile(cfg))

	t.Chdir(t.TempDir())
	require.Equal(t, "mkdir -p "+filepath.Join(dir, ".osflow/try/testing")+" && ./bin/osflow repo files testing > "+filepath.Join(dir, ".osflow/try/testing/osflow.repo"),
		tryRepoFile(cfg), "outside the project the path is absolute")
}
