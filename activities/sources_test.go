package activities

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/internal/testtool"
)

// vendorSite is a vendor's download site on loopback: a directory served
// with Go's file server (listings, Last-Modified, 304s), which counts the
// requests of every path and can redirect any path.
type vendorSite struct {
	t   *testing.T
	dir string
	srv *httptest.Server

	mu        sync.Mutex
	gets      map[string]int
	redirects map[string]string
}

func newVendorSite(t *testing.T) *vendorSite {
	testtool.Need(t, "rpmbuild", "rpm", "rpmkeys")
	v := &vendorSite{t: t, dir: t.TempDir(), gets: map[string]int{}, redirects: map[string]string{}}
	files := http.FileServer(http.Dir(v.dir))
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		v.gets[r.URL.Path]++
		to, ok := v.redirects[r.URL.Path]
		v.mu.Unlock()
		if ok {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(v.srv.Close)
	return v
}

// publish builds packages into the site's directory dir (kept: vendors
// leave old versions up) and returns their paths by file name.
func (v *vendorSite) publish(dir string, specs ...upstream.Spec) map[string]string {
	v.t.Helper()
	out := v.t.TempDir()
	built, err := upstream.BuildSpecs(v.t.Context(), specs, out)
	require.NoError(v.t, err)
	dst := filepath.Join(v.dir, dir)
	require.NoError(v.t, os.MkdirAll(dst, 0o755))
	paths := map[string]string{}
	for _, b := range built {
		p := filepath.Join(dst, filepath.Base(b))
		require.NoError(v.t, os.Rename(b, p))
		paths[filepath.Base(b)] = p
	}
	return paths
}

// writeSums writes dir/SHA256SUMS as sha256sum does, for every RPM there;
// wrong maps file names to the sums to write instead.
func (v *vendorSite) writeSums(dir string, wrong map[string]string) {
	v.t.Helper()
	rpms, err := filepath.Glob(filepath.Join(v.dir, dir, "*.rpm"))
	require.NoError(v.t, err)
	var b strings.Builder
	b.WriteString("# SHA256 sums of the vendor's packages\n")
	for _, p := range rpms {
		sum, ok := wrong[filepath.Base(p)]
		if !ok {
			sum = sha256File(v.t, p)
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, filepath.Base(p))
	}
	require.NoError(v.t, os.WriteFile(filepath.Join(v.dir, dir, "SHA256SUMS"), []byte(b.String()), 0o644))
}

func (v *vendorSite) url(p string) string { return v.srv.URL + "/" + p }

func (v *vendorSite) count(p string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.gets["/"+p]
}

func (v *vendorSite) redirect(from, to string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.redirects["/"+from] = to
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// newSigner makes a throwaway vendor key, which signs RPMs as rpmsign does.
func newSigner(t *testing.T) *upstream.Signer {
	t.Helper()
	testtool.Need(t, "gpg", "rpmsign")
	s, err := upstream.NewSigner(t.Context(), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// signDetached writes file.asc, an armored detached signature by s.
func signDetached(t *testing.T, s *upstream.Signer, file string) {
	t.Helper()
	out, err := exec.Command("gpg", "--homedir", s.Home, "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
		"--local-user", s.KeyID, "--armor", "--yes", "--output", file+".asc", "--detach-sign", file).CombinedOutput()
	require.NoError(t, err, "gpg: %s", out)
}

// sourceFixture is a store with the overlay "site" watching sources, and
// the source activities of its repo worker.
func sourceFixture(t *testing.T, sources string) *SourceActivities {
	t.Helper()
	dir := t.TempDir()
	text := "store: store\nrepos:\n  - name: site\n    overlay: true\n    bypass: {allow: ['*']}\n    sources:\n" + sources
	cfg, err := config.Parse(filepath.Join(dir, "osflow.yaml"), []byte(text))
	require.NoError(t, err, text)
	st, err := repo.Open(cfg.Store)
	require.NoError(t, err)
	return NewSourceActivities(st, cfg, nil)
}

func check(t *testing.T, a *SourceActivities, source string) (SourceCheck, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	v, err := env.ExecuteActivity(a.CheckSource, CheckSourceInput{Overlay: "site", Source: source})
	if err != nil {
		return SourceCheck{}, err
	}
	return decode[SourceCheck](t, v), nil
}

func mustCheck(t *testing.T, a *SourceActivities, source string) SourceCheck {
	t.Helper()
	c, err := check(t, a, source)
	require.NoError(t, err)
	return c
}

func addStaged(t *testing.T, a *SourceActivities, key string, pkgs []StagedPackage) []string {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	v, err := env.ExecuteActivity(a.AddStaged, AddStagedInput{Overlay: "site", Packages: pkgs, Key: key})
	require.NoError(t, err)
	return decode[AddStagedResult](t, v).Added
}

func nevrasOf(pkgs []StagedPackage) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.NEVRA)
	}
	return out
}

func overlayNEVRAs(t *testing.T, a *SourceActivities) []string {
	t.Helper()
	rpms, err := a.Store.OverlayList("site")
	require.NoError(t, err)
	var out []string
	for _, r := range rpms {
		out = append(out, r.NEVRA)
	}
	return out
}

func requireBadContent(t *testing.T, err error, parts ...string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%T: %v", err, err)
	require.Equal(t, ErrTypeBadContent, appErr.Type(), appErr.Error())
	require.True(t, appErr.NonRetryable())
	for _, p := range parts {
		require.Contains(t, appErr.Error(), p)
	}
}

func vspec(name, version string) upstream.Spec {
	return upstream.Spec{Name: name, Version: version, Release: "1"}
}

// TestCheckSourceFindsEachNewVersionOnce: the vendor publishes a new
// version between two checks; each check downloads only what it must.
func TestCheckSourceFindsEachNewVersionOnce(t *testing.T) {
	v := newVendorSite(t)
	v.publish("dl", vspec("vendor-app", "1.0"), vspec("other-tool", "9.0"))
	v.writeSums("dl", nil)
	listing := v.url("dl/")
	a := sourceFixture(t, fmt.Sprintf("      - {url: '%s', kind: listing, include: ['vendor-app-*.rpm'], checksumURL: '%s'}\n", listing, v.url("dl/SHA256SUMS")))

	first := mustCheck(t, a, listing)
	require.Equal(t, []string{"vendor-app-1.0-1.noarch"}, nevrasOf(first.New))
	require.Equal(t, 1, first.Offered, "other-tool is not included")
	p := first.New[0]
	require.Equal(t, v.url("dl/vendor-app-1.0-1.noarch.rpm"), p.URL)
	require.Equal(t, sha256File(t, filepath.Join(v.dir, "dl", "vendor-app-1.0-1.noarch.rpm")), p.SHA256)
	require.Equal(t, filepath.Join(a.Store.TempDir(), "sources", "site", p.SHA256, "vendor-app-1.0-1.noarch.rpm"), p.File)
	require.Equal(t, p.SHA256, sha256File(t, p.File), "the staged copy is the verified download")
	require.Empty(t, p.Replaces)
	require.Equal(t, 0, v.count("dl/other-tool-9.0-1.noarch.rpm"))

	require.Equal(t, []string{"vendor-app-1.0-1.noarch"}, addStaged(t, a, "watch/run-1/add", first.New))
	require.Equal(t, []string{"vendor-app-1.0-1.noarch"}, overlayNEVRAs(t, a))
	require.NoFileExists(t, p.File, "a staged copy goes once added")

	again := mustCheck(t, a, listing)
	require.Empty(t, again.New)
	require.Equal(t, []string{"vendor-app-1.0-1.noarch.rpm: not newer than vendor-app-1.0-1.noarch in the overlay"}, again.Notes)
	require.Equal(t, 1, v.count("dl/vendor-app-1.0-1.noarch.rpm"), "what the overlay has is not downloaded again")

	v.publish("dl", vspec("vendor-app", "1.1"))
	v.writeSums("dl", nil)
	third := mustCheck(t, a, listing)
	require.Equal(t, []string{"vendor-app-1.1-1.noarch"}, nevrasOf(third.New))
	require.Equal(t, "vendor-app-1.0-1.noarch", third.New[0].Replaces)
	require.Equal(t, 2, third.Offered)
	require.Equal(t, 1, v.count("dl/vendor-app-1.0-1.noarch.rpm"))
	require.Equal(t, 1, v.count("dl/vendor-app-1.1-1.noarch.rpm"))
	entries, err := os.ReadDir(filepath.Join(a.Store.TempDir(), "sources", "site"))
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.HasPrefix(e.Name(), "."), "no download or metadata left behind: %s", e.Name())
	}
}

// TestCheckSourceRefusesWhatFailsVerification: a wrong checksum, a file
// that is not an RPM and a file missing from the checksum file are not
// kept, and say so; the good file is staged all the same.
func TestCheckSourceRefusesWhatFailsVerification(t *testing.T) {
	v := newVendorSite(t)
	v.publish("dl", vspec("vendor-app", "2.0"), vspec("vendor-tool", "1.0"))
	require.NoError(t, os.WriteFile(filepath.Join(v.dir, "dl", "vendor-doc-1.0-1.noarch.rpm"), []byte("<html>Moved</html>\n"), 0o644))
	v.writeSums("dl", map[string]string{"vendor-tool-1.0-1.noarch.rpm": strings.Repeat("ab", 32)})
	v.publish("dl", vspec("vendor-new", "1.0")) // after the sums were written
	listing := v.url("dl/")
	a := sourceFixture(t, fmt.Sprintf("      - {url: '%s', kind: listing, include: ['vendor-*.rpm'], checksumURL: '%s'}\n", listing, v.url("dl/SHA256SUMS")))

	c := mustCheck(t, a, listing)
	require.Equal(t, []string{"vendor-app-2.0-1.noarch"}, nevrasOf(c.New))
	require.Len(t, c.Refused, 2, "%q", c.Refused)
	tool := "vendor-tool-1.0-1.noarch.rpm (" + v.url("dl/vendor-tool-1.0-1.noarch.rpm") + "): "
	require.True(t, strings.HasPrefix(c.Refused[1], tool), c.Refused[1])
	require.Contains(t, c.Refused[1], "sha256 checksum mismatch: "+v.url("dl/SHA256SUMS")+" says "+strings.Repeat("ab", 32))
	require.Contains(t, c.Refused[0], "vendor-doc-1.0-1.noarch.rpm")
	require.Contains(t, c.Refused[0], "not an RPM")
	require.Contains(t, c.Notes, "vendor-new-1.0-1.noarch.rpm: not listed in "+v.url("dl/SHA256SUMS")+" (yet?)")
	require.Equal(t, 0, v.count("dl/vendor-new-1.0-1.noarch.rpm"), "what cannot be verified is not even downloaded")
	staged, err := filepath.Glob(filepath.Join(a.Store.TempDir(), "sources", "site", "*", "*.rpm"))
	require.NoError(t, err)
	require.Len(t, staged, 1, "only the verified file is kept")

	// A source of one file must be listed.
	one := v.url("dl/vendor-new-1.0-1.noarch.rpm")
	b := sourceFixture(t, fmt.Sprintf("      - {url: '%s', checksumURL: '%s'}\n", one, v.url("dl/SHA256SUMS")))
	_, err = check(t, b, one)
	requireBadContent(t, err, "source "+one, "does not list vendor-new-1.0-1.noarch.rpm")
}

// TestCheckSourceRedirects: a redirect within the vendor's host is
// followed; one to another host is refused, for a listing and a file.
func TestCheckSourceRedirects(t *testing.T) {
	v := newVendorSite(t)
	v.publish("pool", vspec("vendor-app", "1.0"))
	v.writeSums("pool", nil)
	elsewhere := newVendorSite(t)
	elsewhere.publish("dl", vspec("vendor-app", "6.6"))

	// Same host: /latest.rpm -> /pool/vendor-app-1.0-1.noarch.rpm.
	v.redirect("latest/vendor-app.rpm", v.url("pool/vendor-app-1.0-1.noarch.rpm"))
	latest := v.url("latest/vendor-app.rpm")
	require.NoError(t, os.WriteFile(filepath.Join(v.dir, "SUMS"), []byte(sha256File(t, filepath.Join(v.dir, "pool", "vendor-app-1.0-1.noarch.rpm"))+"  vendor-app.rpm\n"), 0o644))
	a := sourceFixture(t, fmt.Sprintf("      - {url: '%s', checksumURL: '%s'}\n", latest, v.url("SUMS")))
	c := mustCheck(t, a, latest)
	require.Equal(t, []string{"vendor-app-1.0-1.noarch"}, nevrasOf(c.New), "a name that is no NEVRA is read from the RPM")

	// Another host: the file is refused, the listing fails the check.
	v.redirect("evil/vendor-app.rpm", elsewhere.url("dl/vendor-app-6.6-1.noarch.rpm"))
	require.NoError(t, os.WriteFile(filepath.Join(v.dir, "SUMS"), []byte(sha256File(t, filepath.Join(elsewhere.dir, "dl", "vendor-app-6.6-1.noarch.rpm"))+"  vendor-app.rpm\n"), 0o644))
	evil := v.url("evil/vendor-app.rpm")
	b := sourceFixture(t, fmt.Sprintf("      - {url: '%s', checksumURL: '%s'}\n", evil, v.url("SUMS")))
	c = mustCheck(t, b, evil)
	require.Empty(t, c.New)
	require.Len(t, c.Refused, 1)
	require.Contains(t, c.Refused[0], "redirect refused")
	require.Equal(t, 0, elsewhere.count("dl/vendor-app-6.6-1.noarch.rpm"), "the other host is never asked")

	v.redirect("moved/", elsewhere.url("dl/"))
	moved := v.url("moved/")
	l := sourceFixture(t, fmt.Sprintf("      - {url: '%s', kind: listing, include: ['*.rpm'], checksumURL: '%s'}\n", moved, v.url("SUMS")))
	_, err := check(t, l, moved)
	requireBadContent(t, err, "source "+moved, "redirect refused", "a source is read from its own scheme, host and port")
	require.Equal(t, 0, elsewhere.count("dl/"))
}

// TestCheckSourceSignatures: with a gpgKey, only an RPM signed by that key
// is taken; an unsigned one and one signed by another key are refused.
// The same with detached .asc signatures.
func TestCheckSourceSignatures(t *testing.T) {
	vendorKey, otherKey := newSigner(t), newSigner(t)
	v := newVendorSite(t)
	rpms := v.publish("dl", vspec("vendor-app", "2.0"), vspec("vendor-tool", "1.0"), vspec("vendor-lib", "1.0"))
	require.NoError(t, vendorKey.SignRPM(t.Context(), rpms["vendor-app-2.0-1.noarch.rpm"]))
	require.NoError(t, otherKey.SignRPM(t.Context(), rpms["vendor-lib-1.0-1.noarch.rpm"]))

	t.Run("rpm header", func(t *testing.T) {
		listing := v.url("dl/")
		a := sourceFixture(t, fmt.Sprintf("      - {url: '%s', kind: listing, include: ['vendor-*.rpm'], gpgKey: '%s'}\n", listing, vendorKey.PublicKey))
		c := mustCheck(t, a, listing)
		require.Equal(t, []string{"vendor-app-2.0-1.noarch"}, nevrasOf(c.New))
		require.Len(t, c.Refused, 2)
		for i, refused := range []struct{ file, rpmkeys string }{
			{"vendor-lib-1.0-1.noarch.rpm", "SIGNATURES NOT OK"}, // signed by another key
			{"vendor-tool-1.0-1.noarch.rpm", "digests OK)"},      // unsigned
		} {
			require.True(t, strings.HasPrefix(c.Refused[i], refused.file), c.Refused[i])
			require.Contains(t, c.Refused[i], "is not signed by the key in "+vendorKey.PublicKey)
			require.Contains(t, c.Refused[i], refused.rpmkeys)
		}
	})

	t.Run("detached", func(t *testing.T) {
		asc := v.publish("asc", vspec("vendor-app", "2.0"), vspec("vendor-tool", "1.0"), vspec("vendor-lib", "1.0"))
		signDetached(t, vendorKey, asc["vendor-app-2.0-1.noarch.rpm"])
		signDetached(t, otherKey, asc["vendor-lib-1.0-1.noarch.rpm"])
		listing := v.url("asc/")
		a := sourceFixture(t, fmt.Sprintf("      - {url: '%s', kind: listing, include: ['vendor-*.rpm'], gpgKey: '%s', signature: asc}\n", listing, vendorKey.PublicKey))
		c := mustCheck(t, a, listing)
		require.Equal(t, []string{"vendor-app-2.0-1.noarch"}, nevrasOf(c.New))
		require.Len(t, c.Refused, 2)
		require.Contains(t, c.Refused[0], "vendor-lib-1.0-1.noarch.rpm")
		require.Contains(t, c.Refused[0], "no valid detached signature by "+vendorKey.PublicKey)
		require.Contains(t, c.Refused[1], "vendor-tool-1.0-1.noarch.rpm")
		require.Contains(t, c.Refused[1], "no detached signature vendor-tool-1.0-1.noarch.rpm.asc")
	})

	t.Run("the overlay's own key", func(t *testing.T) {
		// The overlay requires its key; the source's checksum alone does
		// not make an unsigned or vendor-signed package acceptable to a
		// bypass, so it is refused here already.
		v.writeSums("dl", nil)
		listing := v.url("dl/")
		dir := t.TempDir()
		text := fmt.Sprintf("store: store\nrepos:\n  - name: site\n    overlay: true\n    gpgKey: '%s'\n    sources:\n"+
			"      - {url: '%s', kind: listing, include: ['vendor-*.rpm'], checksumURL: '%s'}\n", otherKey.PublicKey, listing, v.url("dl/SHA256SUMS"))
		cfg, err := config.Parse(filepath.Join(dir, "osflow.yaml"), []byte(text))
		require.NoError(t, err)
		st, err := repo.Open(cfg.Store)
		require.NoError(t, err)
		c := mustCheck(t, NewSourceActivities(st, cfg, nil), listing)
		require.Equal(t, []string{"vendor-lib-1.0-1.noarch"}, nevrasOf(c.New))
		require.Len(t, c.Refused, 2)
		require.Contains(t, c.Refused[0], "overlay site requires RPMs signed by its gpgKey")
	})
}

// TestCheckSourceRPMMD watches a vendor's rpm-md repo: the newest build of
// each included package is downloaded, nothing else.
func TestCheckSourceRPMMD(t *testing.T) {
	testtool.Need(t, "createrepo_c")
	key := newSigner(t)
	v := newVendorSite(t)
	rpms := v.publish("el9/Packages", vspec("openssl", "3.0.8"), vspec("openssl-libs", "3.0.8"), vspec("kernel-tools", "5.14"))
	maps.Copy(rpms, v.publish("el9/Packages", vspec("openssl", "3.0.7"))) // one spec per name and build
	for _, f := range rpms {
		require.NoError(t, key.SignRPM(t.Context(), f))
	}
	require.NoError(t, upstream.Createrepo(t.Context(), filepath.Join(v.dir, "el9")))
	repoURL := v.url("el9/")
	a := sourceFixture(t, fmt.Sprintf("      - {url: '%s', kind: rpmmd, include: ['openssl*'], gpgKey: '%s', bypass: auto}\n", repoURL, key.PublicKey))

	c := mustCheck(t, a, repoURL)
	require.Equal(t, []string{"openssl-3.0.8-1.noarch", "openssl-libs-3.0.8-1.noarch"}, nevrasOf(c.New))
	require.Equal(t, 3, c.Offered)
	require.Equal(t, []string{"openssl-3.0.7-1.noarch.rpm: openssl-3.0.8-1.noarch.rpm is newer"}, c.Notes)
	require.Equal(t, 0, v.count("el9/Packages/openssl-3.0.7-1.noarch.rpm"))
	require.Equal(t, 0, v.count("el9/Packages/kernel-tools-5.14-1.noarch.rpm"))

	// The watch starts a bypass with them: no later check takes them again.
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	in := RecordBypassInput{Overlay: "site", Packages: c.New, Bypass: "bypass-site-20261201T093000.000Z", Key: "watch/run/bypass"}
	for range 2 {
		_, err := env.ExecuteActivity(a.RecordBypass, in)
		require.NoError(t, err)
	}
	log, err := a.Store.SourceLog("site")
	require.NoError(t, err)
	require.Len(t, log, 2, "a retried record writes nothing twice")
	again := mustCheck(t, a, repoURL)
	require.Empty(t, again.New)
	require.Contains(t, again.Notes, "openssl-3.0.8-1.noarch.rpm: bypass bypass-site-20261201T093000.000Z was started with it")
	require.Equal(t, 1, v.count("el9/Packages/openssl-3.0.8-1.noarch.rpm"), "nor downloads them")

	// A failed start frees them for the next check.
	_, err = env.ExecuteActivity(a.RecordBypass, RecordBypassInput{Overlay: "site", Packages: c.New, Bypass: in.Bypass, Error: "namespace unreachable", Key: "watch/run/bypass-failed"})
	require.NoError(t, err)
	require.Len(t, mustCheck(t, a, repoURL).New, 2)
}

// TestCheckSourceConditional: a file whose name says nothing is asked for
// with its validators once it was seen: a 304 costs no download.
func TestCheckSourceConditional(t *testing.T) {
	v := newVendorSite(t)
	rpms := v.publish("pool", vspec("vendor-app", "1.0"))
	latest := filepath.Join(v.dir, "latest.rpm")
	require.NoError(t, os.Link(rpms["vendor-app-1.0-1.noarch.rpm"], latest))
	require.NoError(t, os.WriteFile(filepath.Join(v.dir, "SUMS"), []byte(sha256File(t, latest)+"  latest.rpm\n"), 0o644))
	u := v.url("latest.rpm")
	a := sourceFixture(t, fmt.Sprintf("      - {url: '%s', checksumURL: '%s'}\n", u, v.url("SUMS")))
	require.NoError(t, a.Store.RecordSources(t.Context(), "site", nil))
	_, err := a.Store.OverlayAdd(t.Context(), "site", []string{rpms["vendor-app-1.0-1.noarch.rpm"]})
	require.NoError(t, err)

	c := mustCheck(t, a, u)
	require.Empty(t, c.New)
	require.Equal(t, []string{"latest.rpm: vendor-app-1.0-1.noarch is not newer than vendor-app-1.0-1.noarch in the overlay"}, c.Notes)
	require.Equal(t, 1, v.count("latest.rpm"))
	c = mustCheck(t, a, u)
	require.Equal(t, []string{"latest.rpm: seen before as vendor-app-1.0-1.noarch, not newer than the overlay's"}, c.Notes,
		"its checksum is known: no request at all")
	require.Equal(t, 1, v.count("latest.rpm"))
}

// TestCheckSourceResumesWithoutDownloadingTwice: a check whose completion
// was lost is retried; it finds what it staged instead of downloading it.
func TestCheckSourceResumesWithoutDownloadingTwice(t *testing.T) {
	for _, j := range []journal{noHeartbeat, lastHeartbeat} {
		t.Run(j.String(), func(t *testing.T) {
			v := newVendorSite(t)
			v.publish("dl", vspec("vendor-app", "1.0"), vspec("vendor-tool", "1.0"))
			v.writeSums("dl", nil)
			listing := v.url("dl/")
			a := sourceFixture(t, fmt.Sprintf("      - {url: '%s', kind: listing, include: ['vendor-*.rpm'], checksumURL: '%s'}\n", listing, v.url("dl/SHA256SUMS")))
			first, retry := runTwice(t, j, a, a.CheckSource, CheckSourceInput{Overlay: "site", Source: listing})
			require.Equal(t, decode[SourceCheck](t, first), decode[SourceCheck](t, retry))
			require.Len(t, decode[SourceCheck](t, retry).New, 2)
			require.Equal(t, 1, v.count("dl/vendor-app-1.0-1.noarch.rpm"))
			require.Equal(t, 1, v.count("dl/vendor-tool-1.0-1.noarch.rpm"))

			staged := decode[SourceCheck](t, retry).New
			add, again := runTwice(t, j, a, a.AddStaged, AddStagedInput{Overlay: "site", Packages: staged, Key: "watch/run/add"})
			require.Equal(t, decode[AddStagedResult](t, add), decode[AddStagedResult](t, again), "the retry reports what the first attempt added")
			require.Equal(t, []string{"vendor-app-1.0-1.noarch", "vendor-tool-1.0-1.noarch"}, overlayNEVRAs(t, a))
			log, err := a.Store.SourceLog("site")
			require.NoError(t, err)
			require.Len(t, log, 2, "each added once in the journal")
		})
	}
}

func TestAddStagedTakesOnlyStagedFiles(t *testing.T) {
	a := sourceFixture(t, "      - {url: 'https://v.example.com/a.rpm', checksumURL: 'https://v.example.com/S'}\n")
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	_, err := env.ExecuteActivity(a.AddStaged, AddStagedInput{Overlay: "site", Key: "k",
		Packages: []StagedPackage{{File: filepath.Join(a.Store.TempDir(), "sources", "site", "..", "..", "..", "etc", "x.rpm")}}})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	require.Equal(t, ErrTypeInvalidInput, appErr.Type())
	require.Contains(t, appErr.Error(), "is not a staged file of overlay site")
}

// TestCheckSourceKnowsTheOverlaysEpochs: the overlay names its files
// without the epoch, and a vendor's file names never have one; the watch
// still orders openssl 1:1.1 above 3.0 (no epoch) and finds 1:1.2 newer.
func TestCheckSourceKnowsTheOverlaysEpochs(t *testing.T) {
	v := newVendorSite(t)
	v.publish("dl", upstream.Spec{Name: "openssl", Epoch: 1, Version: "1.1", Release: "1"})
	v.writeSums("dl", nil)
	listing := v.url("dl/")
	a := sourceFixture(t, fmt.Sprintf("      - {url: '%s', kind: listing, include: ['openssl-*.rpm'], checksumURL: '%s'}\n", listing, v.url("dl/SHA256SUMS")))

	first := mustCheck(t, a, listing)
	require.Equal(t, []string{"openssl-1:1.1-1.noarch"}, nevrasOf(first.New))
	require.Equal(t, []string{"openssl-1:1.1-1.noarch"}, addStaged(t, a, "watch/run-1/add", first.New))
	require.Equal(t, []string{"openssl-1.1-1.noarch"}, overlayNEVRAs(t, a), "the file name has no epoch")

	v.publish("dl", upstream.Spec{Name: "openssl", Version: "3.0", Release: "1"})
	v.writeSums("dl", nil)
	again := mustCheck(t, a, listing)
	require.Empty(t, again.New, "3.0 without an epoch is older than 1:1.1: %v", again.Notes)
	require.Contains(t, strings.Join(again.Notes, "\n"), "openssl-3.0-1.noarch.rpm: openssl-3.0-1.noarch is not newer than openssl-1:1.1-1.noarch in the overlay")
	require.Equal(t, 1, v.count("dl/openssl-1.1-1.noarch.rpm"), "the overlay's build is not downloaded again")

	v.publish("dl", upstream.Spec{Name: "openssl", Epoch: 1, Version: "1.2", Release: "1"})
	v.writeSums("dl", nil)
	third := mustCheck(t, a, listing)
	require.Equal(t, []string{"openssl-1:1.2-1.noarch"}, nevrasOf(third.New))
	require.Equal(t, "openssl-1:1.1-1.noarch", third.New[0].Replaces)
}

// Issue 16 #10: a vendor source answering 404 was retried 25 times over an
// hour, holding back what the other sources found (a bypass: auto fix
// among them). A permanent answer is not retried; a busy server is, within
// a bounded budget, and the next watch asks again.
func TestCheckSourceRetriesOnlyWhatMayPass(t *testing.T) {
	for _, tt := range []struct {
		code      int
		permanent bool
	}{
		{http.StatusNotFound, true},
		{http.StatusGone, true},
		{http.StatusForbidden, true},
		{http.StatusServiceUnavailable, false},
		{http.StatusTooManyRequests, false},
		{http.StatusRequestTimeout, false},
	} {
		t.Run(http.StatusText(tt.code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tt.code) }))
			defer srv.Close()
			one := srv.URL + "/dl/vendor-app-2.0-1.noarch.rpm"
			a := sourceFixture(t, fmt.Sprintf("      - {url: '%s', checksumURL: '%s'}\n", one, srv.URL+"/dl/SHA256SUMS"))
			_, err := check(t, a, one)
			require.Error(t, err)
			require.Contains(t, err.Error(), fmt.Sprintf("HTTP %d", tt.code))
			var appErr *temporal.ApplicationError
			permanent := errors.As(err, &appErr) && appErr.NonRetryable()
			require.Equal(t, tt.permanent, permanent, "%v", err)
			if tt.permanent {
				require.Equal(t, ErrTypeSourceUnavailable, appErr.Type())
			}
		})
	}
	plan, err := (&ConfigActivities{Config: sourceFixture(t, "      - {url: 'https://vendor.example/a.rpm', checksumURL: 'https://vendor.example/SUMS'}\n").Config}).
		WatchPlan(t.Context(), WatchPlanInput{Overlay: "site"})
	require.NoError(t, err)
	require.Equal(t, int32(maxCheckAttempts), plan.MaxAttempts, "a check's retries are bounded by the next watch, not sync.maxAttempts")
}

// Issue 16 #10: a watched build whose bypass failed or was rejected was
// never offered again. The journal holds it once a bypass is started
// with it; `osflow overlay retry` (RetryHeld) makes it new for the next
// check, once, whatever how often it is asked.
func TestRetryHeldOffersABuildAgain(t *testing.T) {
	v := newVendorSite(t)
	v.publish("dl", vspec("openssl", "3.0.8"))
	v.writeSums("dl", nil)
	listing := v.url("dl/")
	a := sourceFixture(t, fmt.Sprintf("      - {url: '%s', kind: listing, include: ['openssl-*.rpm'], checksumURL: '%s', bypass: auto}\n", listing, v.url("dl/SHA256SUMS")))
	ctx := t.Context()
	journal := func() []repo.SourceEntry {
		log, err := a.Store.SourceLog("site")
		require.NoError(t, err)
		return log
	}

	first := mustCheck(t, a, listing)
	require.Equal(t, []string{"openssl-3.0.8-1.noarch"}, nevrasOf(first.New))
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	for i, id := range []string{"bypass-site-1", "bypass-site-2"} {
		_, err := env.ExecuteActivity(a.RecordBypass, RecordBypassInput{Overlay: "site", Packages: first.New, Bypass: id, Key: "watch/run-" + id + "/bypass"})
		require.NoError(t, err)
		held, retried := HeldBuilds(journal())
		require.Len(t, held, 1, "round %d", i)
		require.Equal(t, HeldBuild{Source: listing, URL: v.url("dl/openssl-3.0.8-1.noarch.rpm"), SHA256: first.New[0].SHA256,
			NEVRA: "openssl-3.0.8-1.noarch", Bypass: id, Since: held[0].Since}, held[0])
		require.Empty(t, retried)
		for _, name := range []string{"openssl-3.0.8-1.noarch", "openssl-3.0.8-1.noarch.rpm", held[0].URL} {
			require.True(t, held[0].Matches(name), name)
		}
		require.False(t, held[0].Matches("openssl"))
		skipped := mustCheck(t, a, listing)
		require.Empty(t, skipped.New, "held: no second bypass for it")
		require.Contains(t, skipped.Notes, "openssl-3.0.8-1.noarch.rpm: bypass "+id+" was started with it")

		before := len(journal())
		for range 2 {
			require.NoError(t, RetryHeld(ctx, a.Store, "site", held))
		}
		require.Len(t, journal(), before+1, "a repeated retry records nothing twice")
		held, retried = HeldBuilds(journal())
		require.Empty(t, held)
		require.Equal(t, []string{"openssl-3.0.8-1.noarch"}, []string{retried[0].NEVRA})
		again := mustCheck(t, a, listing)
		require.Equal(t, []string{"openssl-3.0.8-1.noarch"}, nevrasOf(again.New), "offered again at the next check")
	}
}
