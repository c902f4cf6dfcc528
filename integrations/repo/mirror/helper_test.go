package mirror

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// A minimal private upstream builder (rpmbuild + createrepo_c + gpg); the
// shared one in integrations/repo/upstream was not there when this was written.

var rpms struct {
	sync.Mutex
	dir   string            // built once per test binary
	paths map[string]string // "name-version" -> .rpm
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mirror-rpms-")
	if err != nil {
		panic(err)
	}
	rpms.dir, rpms.paths = dir, map[string]string{}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const specTemplate = `Name: %[1]s
Version: %[2]s
Release: 1
Summary: test package %[1]s
License: MIT
BuildArch: noarch
AutoReqProv: no

%%description
test package %[1]s

%%install
mkdir -p %%{buildroot}/usr/share/%[1]s
echo %[1]s-%[2]s > %%{buildroot}/usr/share/%[1]s/README

%%files
/usr/share/%[1]s/README
`

// buildRPM builds name-version-1.noarch.rpm once and returns its path.
func buildRPM(t *testing.T, name, version string) string {
	t.Helper()
	rpms.Lock()
	defer rpms.Unlock()
	key := name + "-" + version
	if p, ok := rpms.paths[key]; ok {
		return p
	}
	top := filepath.Join(rpms.dir, key)
	require.NoError(t, os.MkdirAll(top, 0o755))
	spec := filepath.Join(top, name+".spec")
	require.NoError(t, os.WriteFile(spec, fmt.Appendf(nil, specTemplate, name, version), 0o644))
	runCmd(t, "", "rpmbuild", "--define", "_topdir "+top, "-bb", spec)
	p := filepath.Join(top, "RPMS", "noarch", key+"-1.noarch.rpm")
	require.FileExists(t, p)
	rpms.paths[key] = p
	return p
}

func runCmd(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
}

// upstream is an rpm-md repo on disk, served over HTTP with every request
// recorded. intercept, when set, may answer a request itself.
type upstream struct {
	t   *testing.T
	Dir string
	srv *httptest.Server

	mu        sync.Mutex
	log       []string
	intercept func(w http.ResponseWriter, r *http.Request) bool
}

// newUpstream publishes a repo holding the given packages ("name-version").
func newUpstream(t *testing.T, pkgs ...string) *upstream {
	u := serveDir(t, t.TempDir())
	u.add(pkgs...)
	u.publish()
	return u
}

// serveDir serves dir as it is.
func serveDir(t *testing.T, dir string) *upstream {
	u := &upstream{t: t, Dir: dir}
	files := http.FileServer(http.Dir(u.Dir))
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.log = append(u.log, r.URL.Path)
		intercept := u.intercept
		u.mu.Unlock()
		if intercept != nil && intercept(w, r) {
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) URL() string { return u.srv.URL + "/" }

// add copies packages ("name-version") into Packages/; publish to make them visible.
func (u *upstream) add(pkgs ...string) {
	require.NoError(u.t, os.MkdirAll(filepath.Join(u.Dir, "Packages"), 0o755))
	for _, p := range pkgs {
		name, version, _ := strings.Cut(p, "-")
		data, err := os.ReadFile(buildRPM(u.t, name, version))
		require.NoError(u.t, err)
		require.NoError(u.t, os.WriteFile(filepath.Join(u.Dir, "Packages", p+"-1.noarch.rpm"), data, 0o644))
	}
}

// publish regenerates repodata/ with createrepo_c.
func (u *upstream) publish(args ...string) {
	runCmd(u.t, "", "createrepo_c", append(args, u.Dir)...)
}

func (u *upstream) setIntercept(f func(w http.ResponseWriter, r *http.Request) bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.intercept = f
}

// restart serves the repo on a new server (and port), so that requests a
// sync that gave up had in flight, maybe still queued on the old one,
// never mix with the next sync's.
func (u *upstream) restart() {
	u.srv.Close()
	u.srv = httptest.NewServer(u.srv.Config.Handler)
	u.t.Cleanup(u.srv.Close)
	u.requests()
}

// requests returns the paths requested since the last call.
func (u *upstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	log := u.log
	u.log = nil
	return log
}

func (u *upstream) path(href string) string { return filepath.Join(u.Dir, filepath.FromSlash(href)) }

func (u *upstream) read(href string) []byte {
	data, err := os.ReadFile(u.path(href))
	require.NoError(u.t, err)
	return data
}

func (u *upstream) write(href string, data []byte) {
	require.NoError(u.t, os.WriteFile(u.path(href), data, 0o644))
}

// repomd parses the published repomd.xml.
func (u *upstream) repomd() rpmmd.Repomd {
	md, err := rpmmd.ParseRepomd(bytes.NewReader(u.read(repomdPath)), rpmmd.DefaultLimits())
	require.NoError(u.t, err)
	return md
}

func (u *upstream) data(typ string) rpmmd.Data {
	d, ok := u.repomd().Find(typ)
	require.True(u.t, ok, "repomd.xml has no %s", typ)
	return d
}

// editPrimary rewrites primary.xml through edit and fixes repomd.xml's
// checksums and sizes for it, as a hostile but consistent upstream would.
func (u *upstream) editPrimary(edit func(xml string) string) {
	d := u.data("primary")
	zr, err := gzip.NewReader(bytes.NewReader(u.read(d.Href)))
	require.NoError(u.t, err)
	open, err := io.ReadAll(zr)
	require.NoError(u.t, err)
	edited := []byte(edit(string(open)))
	gz := gzipped(u.t, edited)
	u.write(d.Href, gz)
	u.fixRepomd("primary", gz, edited)
}

// addMetadata adds a metadata file of type typ holding open to the repo,
// with modifyrepo_c, as distributions add updateinfo and comps.
func (u *upstream) addMetadata(typ, name string, open []byte) {
	src := filepath.Join(u.t.TempDir(), name)
	require.NoError(u.t, os.WriteFile(src, open, 0o644))
	runCmd(u.t, u.Dir, "modifyrepo_c", "--mdtype="+typ, src, filepath.Join(u.Dir, "repodata"))
}

// fixRepomd sets the checksums and sizes of typ's <data> in repomd.xml.
func (u *upstream) fixRepomd(typ string, file, open []byte) {
	md := string(u.read(repomdPath))
	block := regexp.MustCompile(`(?s)<data type="` + typ + `">.*?</data>`)
	loc := block.FindStringIndex(md)
	require.NotNil(u.t, loc)
	b := md[loc[0]:loc[1]]
	for _, r := range []struct{ re, val string }{
		{`(<checksum type="sha256">)[0-9a-f]+`, sha256Hex(file)},
		{`(<size>)\d+`, strconv.Itoa(len(file))},
		{`(<open-checksum type="sha256">)[0-9a-f]+`, sha256Hex(open)},
		{`(<open-size>)\d+`, strconv.Itoa(len(open))},
	} {
		b = regexp.MustCompile(r.re).ReplaceAllString(b, "${1}"+r.val)
	}
	u.write(repomdPath, []byte(md[:loc[0]]+b+md[loc[1]:]))
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// signer is a throwaway gpg key.
type signer struct {
	t       *testing.T
	home    string
	Keyring openpgp.EntityList
}

func newSigner(t *testing.T) *signer {
	// gpg-agent's socket path must stay short: not under t.TempDir().
	home, err := os.MkdirTemp("", "gpg")
	require.NoError(t, err)
	s := &signer{t: t, home: home}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
		os.RemoveAll(home)
	})
	s.gpg("--quick-gen-key", "--passphrase", "", "--pinentry-mode", "loopback", "T <t@x>", "rsa2048", "sign", "never")
	pub, err := exec.Command("gpg", "--batch", "--homedir", home, "--export", "--armor").Output()
	require.NoError(t, err)
	s.Keyring, err = rpmmd.ReadKeyring(bytes.NewReader(pub))
	require.NoError(t, err)
	return s
}

func (s *signer) gpg(args ...string) {
	runCmd(s.t, "", "gpg", append([]string{"--batch", "--homedir", s.home}, args...)...)
}

// sign writes repodata/repomd.xml.asc for u.
func (s *signer) sign(u *upstream) {
	os.Remove(u.path(signaturePath))
	s.gpg("--detach-sign", "--armor", "--output", u.path(signaturePath), u.path(repomdPath))
}
