// Package systemd checks osflow's systemd units with systemd itself.
package systemd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/internal/testtool"
)

// maxExposure is the highest `systemd-analyze security` exposure a unit
// may have, in tenths (0 best, 100 worst; below 20 is rated "OK").
const maxExposure = 20

// hardening is what every unit must say, whatever else it says.
var hardening = map[string]string{
	"ProtectSystem":         "strict",
	"PrivateTmp":            "yes",
	"NoNewPrivileges":       "yes",
	"CapabilityBoundingSet": "",
}

func TestUnits(t *testing.T) {
	testtool.Need(t, "systemd-analyze")
	for _, c := range []struct {
		file, unit, binary, user string
		writable                 []string
	}{
		{"osflow-worker-repo.service", "osflow-worker-repo.service", "/usr/local/bin/osflow", "osflow", []string{"/srv/osflow"}},
		{"osflow-worker.service", "osflow-worker.service", "/usr/local/bin/osflow", "osflow", nil},
		{"temporal@.service", "temporal@history.service", "/usr/local/bin/temporal-server", "temporal", nil},
	} {
		t.Run(c.file, func(t *testing.T) {
			keys := directives(t, c.file)
			for k, v := range hardening {
				require.Contains(t, keys, k, "%s must set %s", c.file, k)
				require.Equal(t, []string{v}, keys[k], "%s: %s", c.file, k)
			}
			require.Equal(t, []string{c.user}, keys["User"], "a dedicated user")
			require.Equal(t, c.writable, keys["ReadWritePaths"], "writable paths beyond StateDirectory/CacheDirectory")
			require.Contains(t, keys["ExecStart"][0], c.binary+" ")

			root := fakeRoot(t, c.file, c.binary)
			out, err := exec.Command("systemd-analyze", "verify", "--man=no", "--root="+root, c.unit).CombinedOutput()
			require.NoError(t, err, "systemd-analyze verify %s:\n%s", c.file, out)
			require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify warns about %s", c.file)

			out, err = exec.Command("systemd-analyze", "security", "--offline=true", "--threshold="+strconv.Itoa(maxExposure),
				"--root="+root, c.unit).CombinedOutput()
			require.NoError(t, err, "systemd-analyze security %s above %d:\n%s", c.file, maxExposure, out)
			i := strings.Index(string(out), "Overall exposure level for "+c.unit)
			require.GreaterOrEqual(t, i, 0, "%s", out)
			t.Log(strings.TrimSpace(string(out[i:])))
		})
	}
}

// TestVerifyCatchesMistakes makes sure the check above can fail: a unit
// with a misspelt key or a missing binary is reported.
func TestVerifyCatchesMistakes(t *testing.T) {
	testtool.Need(t, "systemd-analyze")
	good, err := os.ReadFile("osflow-worker.service")
	require.NoError(t, err)
	for name, unit := range map[string]string{
		"misspelt key":   strings.Replace(string(good), "PrivateTmp=yes", "PrivateTemp=yes", 1),
		"missing binary": strings.Replace(string(good), "/usr/local/bin/osflow ", "/usr/local/bin/osflw ", 1),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.service"), []byte(unit), 0o644))
			root := fakeRoot(t, filepath.Join(dir, "broken.service"), "/usr/local/bin/osflow")
			out, err := exec.Command("systemd-analyze", "verify", "--man=no", "--root="+root, "broken.service").CombinedOutput()
			require.True(t, err != nil || strings.TrimSpace(string(out)) != "", "systemd-analyze accepted a broken unit")
		})
	}
}

// fakeRoot builds a root directory for systemd-analyze --root: the host's
// system units (for the targets the unit refers to), the unit under test in
// /etc/systemd/system and a stand-in for its binary, so that the check
// needs no installation on the machine that runs the tests.
func fakeRoot(t *testing.T, unitFile, binary string) string {
	t.Helper()
	root := t.TempDir()
	sys := filepath.Join(root, "usr", "lib", "systemd", "system")
	require.NoError(t, os.CopyFS(sys, os.DirFS("/usr/lib/systemd/system")))
	etc := filepath.Join(root, "etc", "systemd", "system")
	require.NoError(t, os.MkdirAll(etc, 0o755))
	b, err := os.ReadFile(unitFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(etc, filepath.Base(unitFile)), b, 0o644))
	bin := filepath.Join(root, binary)
	require.NoError(t, os.MkdirAll(filepath.Dir(bin), 0o755))
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	return root
}

// directives reads a unit's [Service] and [Unit] keys; a key given more
// than once keeps every value, in order.
func directives(t *testing.T, file string) map[string][]string {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	keys := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s: not a key=value line: %q", file, line)
		keys[k] = append(keys[k], v)
	}
	require.NoError(t, sc.Err())
	return keys
}
