// Package privatecheckout runs `make test`'s server tests from a copy of
// this checkout inside a directory only its owner can enter, as a clone
// into `mktemp -d` or root's home is. A server that drops privileges
// (httpd's and nginx's workers run as nobody when the test runs as root)
// must be given what it reads where it can read it, never a path inside
// the checkout; CI clones into a readable directory and would not notice.
package privatecheckout

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/internal/testtool"
)

// serverTests are the packages whose tests start real servers, and the
// tests in them that must have run and passed.
var serverTests = map[string][]string{
	"./deploy/web/":              {"TestChannelServers"},
	"./integrations/monitoring/": {"TestAlertmanagerSilenceAndExpire", "TestNagiosDowntime"},
	"./integrations/backup/":     {"TestBaculaRealDaemons"},
}

func TestServerTestsFromPrivateCheckout(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	private := t.TempDir()
	require.NoError(t, os.Chmod(private, 0o700))
	checkout := filepath.Join(private, "osflow")
	copyTree(t, root, checkout)

	args := []string{"test", "-count=1", "-v"}
	for pkg := range serverTests {
		args = append(args, pkg)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = checkout
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the server tests fail from %s (mode 0700 above the checkout):\n%s", checkout, out)
	for pkg, tests := range serverTests {
		for _, test := range tests {
			if strings.Contains(string(out), "--- SKIP: "+test+" ") {
				testtool.Missing(t, test+" skipped for want of a tool")
			}
			require.Contains(t, string(out), "--- PASS: "+test+" ", "%s did not run and pass from the private checkout (%s):\n%s", test, pkg, out)
		}
	}
}

// copyTree copies the source tree at src (not .git, not bin/: the server
// tests need neither) into dst, keeping file modes.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.Name() == ".git" || rel == "bin" || strings.HasPrefix(rel, ".osflow") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm())
		case info.Mode().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, info.Mode().Perm())
		}
		return nil // sockets, links: not part of the sources
	})
	require.NoError(t, err, "copy %s to %s", src, dst)
}
