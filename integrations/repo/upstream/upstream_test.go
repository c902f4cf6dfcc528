package upstream

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestSpecText(t *testing.T) {
	text := Spec{Name: "hpc-tools", Epoch: 2, Requires: []string{"osflow-release >= 1.0"}}.Text()
	for _, want := range []string{
		"Name:        hpc-tools\n", "Epoch:       2\n", "Version:     1.0\n", "Release:     1\n",
		"License:     MIT\n", "BuildArch:   noarch\n", "AutoReqProv: no\n", "Requires:    osflow-release >= 1.0\n",
		"%files\n/usr/share/hpc-tools/hpc-tools.txt\n",
	} {
		require.Contains(t, text, want)
	}
	require.NotContains(t, text, "%post")
}

func rpmQuery(t *testing.T, format, file string) string {
	t.Helper()
	out, err := exec.Command("rpm", "-qp", "--nosignature", "--qf", format, file).Output()
	require.NoError(t, err)
	return string(out)
}

func TestBuildSpecsCreaterepoAndSign(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")

	rpms, err := BuildSpecs(ctx, []Spec{
		{Name: "hpc-base", Version: "2.1", Release: "3"},
		{Name: "slurm-client-stub", Requires: []string{"hpc-base >= 2.0"}, Files: map[string]string{
			"/usr/share/slurm-client-stub/slurm.conf": "# %{not a macro} $(not a command)\n",
			"/etc/slurm/README":                       "stub\n",
		}},
	}, repo)
	require.NoError(t, err)
	require.Equal(t, []string{
		filepath.Join(repo, "Packages", "hpc-base-2.1-3.noarch.rpm"),
		filepath.Join(repo, "Packages", "slurm-client-stub-1.0-1.noarch.rpm"),
	}, rpms)

	require.Equal(t, "hpc-base 2.1 3 noarch 1704067200", rpmQuery(t, "%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{BUILDTIME}", rpms[0]))
	require.Contains(t, rpmQuery(t, "[%{REQUIRENAME} %{REQUIREFLAGS:depflags} %{REQUIREVERSION}\n]", rpms[1]), "hpc-base >= 2.0\n")
	require.Equal(t, "/etc/slurm/README\n/usr/share/slurm-client-stub/slurm.conf\n", rpmQuery(t, "[%{FILENAMES}\n]", rpms[1]))
	// The content is byte for byte what was asked for: no macro expanded, no command run.
	readme, conf := sha256.Sum256([]byte("stub\n")), sha256.Sum256([]byte("# %{not a macro} $(not a command)\n"))
	require.Equal(t, hex.EncodeToString(readme[:])+"\n"+hex.EncodeToString(conf[:])+"\n", rpmQuery(t, "[%{FILEDIGESTS}\n]", rpms[1]))

	require.NoError(t, Createrepo(ctx, repo))
	require.FileExists(t, filepath.Join(repo, "repodata", "repomd.xml"))

	s, err := NewSigner(ctx, dir)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.Len(t, s.KeyID, 40)
	key, err := os.ReadFile(s.PublicKey)
	require.NoError(t, err)
	require.Contains(t, string(key), "-----BEGIN PGP PUBLIC KEY BLOCK-----")

	require.NoError(t, s.SignRepomd(ctx, repo))
	asc := filepath.Join(repo, "repodata", "repomd.xml.asc")
	require.FileExists(t, asc)

	// Verify as a client would: with nothing but the exported public key.
	verifier := t.TempDir()
	gpg := func(args ...string) ([]byte, error) {
		return exec.Command("gpg", append([]string{"--homedir", verifier, "--batch"}, args...)...).CombinedOutput()
	}
	out, err := gpg("--import", s.PublicKey)
	require.NoError(t, err, string(out))
	out, err = gpg("--verify", asc, filepath.Join(repo, "repodata", "repomd.xml"))
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "Good signature")
	require.NoError(t, exec.Command("gpgconf", "--homedir", verifier, "--kill", "all").Run())

	// A changed repomd.xml no longer verifies.
	f, err := os.OpenFile(filepath.Join(repo, "repodata", "repomd.xml"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("<!-- tampered -->\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	out, err = exec.Command("gpg", "--homedir", s.Home, "--batch", "--verify", asc, filepath.Join(repo, "repodata", "repomd.xml")).CombinedOutput()
	require.Error(t, err, string(out))
}

func TestNewSignerDeepDir(t *testing.T) {
	deep := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	require.NoError(t, os.MkdirAll(deep, 0o755))
	s, err := NewSigner(t.Context(), deep)
	require.NoError(t, err)
	require.True(t, len(s.Home) <= maxHomeLen, s.Home)
	require.FileExists(t, filepath.Join(deep, "RPM-GPG-KEY-osflow-test"))
	require.NoError(t, s.Close())
	require.NoDirExists(t, s.Home)
}

func TestBuildFS(t *testing.T) {
	ctx := t.Context()
	fsys := fstest.MapFS{
		"specs/baseos/osflow-release.spec": {Data: []byte(Spec{Name: "osflow-release"}.Text())},
		"specs/baseos/tools.spec":          {Data: []byte(Spec{Name: "tools", Requires: []string{"osflow-release"}}.Text())},
		"specs/appstream/app.spec":         {Data: []byte(Spec{Name: "app", Requires: []string{"tools"}}.Text())},
		"specs/empty/README":               {Data: []byte("no specs here\n")},
		"specs/notes.txt":                  {Data: []byte("a file, not a repo\n")},
	}
	out := t.TempDir()
	require.NoError(t, BuildFS(ctx, fsys, "specs", out))
	for _, f := range []string{
		"baseos/Packages/osflow-release-1.0-1.noarch.rpm",
		"baseos/Packages/tools-1.0-1.noarch.rpm",
		"baseos/repodata/repomd.xml",
		"appstream/Packages/app-1.0-1.noarch.rpm",
		"appstream/repodata/repomd.xml",
	} {
		require.FileExists(t, filepath.Join(out, f))
	}
	require.NoDirExists(t, filepath.Join(out, "empty"))
	require.NoDirExists(t, filepath.Join(out, "baseos", ".specs"))
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, entries, 2, "no temporary directories left behind")

	// A second start reuses what is there, even if the specs changed.
	repomd := filepath.Join(out, "baseos", "repodata", "repomd.xml")
	before, err := os.Stat(repomd)
	require.NoError(t, err)
	fsys["specs/baseos/tools.spec"] = &fstest.MapFile{Data: []byte("not a spec")}
	require.NoError(t, BuildFS(ctx, fsys, "specs", out))
	after, err := os.Stat(repomd)
	require.NoError(t, err)
	require.Equal(t, before.ModTime(), after.ModTime())

	// A broken spec fails with rpmbuild's own words, and leaves nothing behind.
	require.NoError(t, os.RemoveAll(filepath.Join(out, "baseos")))
	err = BuildFS(ctx, fsys, "specs", out)
	require.ErrorContains(t, err, "repo baseos: rpmbuild")
	require.NoDirExists(t, filepath.Join(out, "baseos"))
}

func TestBuildRPMsNoSpecs(t *testing.T) {
	_, err := BuildRPMs(t.Context(), t.TempDir(), t.TempDir())
	require.ErrorContains(t, err, "no *.spec")
}
