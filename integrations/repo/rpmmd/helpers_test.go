package rpmmd

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/internal/testtool"
)

// needTools stops a test that drives a real program when it is missing:
// a failure under make test, a skip on a bare workstation.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	testtool.Need(t, tools...)
}

func run(t *testing.T, dir string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), stderr.String())
	return out
}

const testSpec = `Name: osflow-hello
Version: 1.2.3
Release: 4
Epoch: 1
Summary: test package for osflow
License: MIT
BuildArch: noarch

%description
A package with one file, built by the rpmmd tests.

%install
mkdir -p %{buildroot}/usr/share/osflow-hello
echo hello > %{buildroot}/usr/share/osflow-hello/hello.txt

%files
/usr/share/osflow-hello/hello.txt
`

// builtRPM is built once per test binary: rpmbuild is the slowest fixture.
var builtRPM = sync.OnceValues(func() ([]byte, error) {
	top, err := os.MkdirTemp("", "rpmmd-rpmbuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(top)
	spec := filepath.Join(top, "hello.spec")
	if err := os.WriteFile(spec, []byte(testSpec), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("rpmbuild", "--define", "_topdir "+top, "-bb", spec)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("rpmbuild: %w: %s", err, out)
	}
	return os.ReadFile(filepath.Join(top, "RPMS", "noarch", "osflow-hello-1.2.3-4.noarch.rpm"))
})

const testRPMName = "osflow-hello-1.2.3-4.noarch.rpm"

// testRepo builds a repository with createrepo_c in a fresh directory, with
// the test rpm under Packages/ unless empty, and returns the directory.
func testRepo(t *testing.T, empty bool, createrepoArgs ...string) string {
	t.Helper()
	needTools(t, "createrepo_c")
	dir := t.TempDir()
	if !empty {
		needTools(t, "rpmbuild")
		rpm, err := builtRPM()
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "Packages"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "Packages", testRPMName), rpm, 0o644))
	}
	run(t, dir, "createrepo_c", append(createrepoArgs, "--quiet", dir)...)
	return dir
}

func readRepomd(t *testing.T, dir string) Repomd {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "repodata", "repomd.xml"))
	require.NoError(t, err)
	defer f.Close()
	m, err := ParseRepomd(f, DefaultLimits())
	require.NoError(t, err)
	return m
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// errReader fails every read with err, as a broken connection would.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// prefixThenFail yields data and then fails with err instead of io.EOF.
func prefixThenFail(data []byte, err error) io.Reader {
	return io.MultiReader(bytes.NewReader(data), errReader{err})
}
