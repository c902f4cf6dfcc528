package activities

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/internal/testtool"
)

// Builds of openssl for the bypass tests: production serves sslProduction,
// testing sslTesting, sslFix is the emergency build, and sslNoEpoch a higher
// version that lost the epoch, so rpm orders it below both.
var (
	sslProduction = upstream.Spec{Name: "openssl", Epoch: 1, Version: "1.1", Release: "1"}
	sslTesting    = upstream.Spec{Name: "openssl", Epoch: 1, Version: "1.1", Release: "2"}
	sslFix        = upstream.Spec{Name: "openssl", Epoch: 1, Version: "1.2", Release: "1"}
	sslNoEpoch    = upstream.Spec{Name: "openssl", Version: "3.0", Release: "1"}
	curlSpec      = upstream.Spec{Name: "curl", Version: "8.0", Release: "1"}
)

// buildRPMs builds specs, several of one name if need be, with one
// rpmbuild run each, and returns each package's path by its file name
// (name-version-release.noarch.rpm).
func buildRPMs(t *testing.T, specs ...upstream.Spec) map[string]string {
	t.Helper()
	testtool.Need(t, "rpmbuild", "rpm", "createrepo_c")
	dir := t.TempDir()
	specDir := filepath.Join(dir, "specs")
	require.NoError(t, os.Mkdir(specDir, 0o755))
	for _, s := range specs {
		name := fmt.Sprintf("%s-%s-%s.spec", s.Name, s.Version, s.Release)
		require.NoError(t, os.WriteFile(filepath.Join(specDir, name), []byte(s.Text()), 0o644))
	}
	paths, err := upstream.BuildRPMs(t.Context(), specDir, dir)
	require.NoError(t, err)
	out := map[string]string{}
	for _, p := range paths {
		out[filepath.Base(p)] = p
	}
	return out
}

func rpmFile(s upstream.Spec) string {
	return fmt.Sprintf("%s-%s-%s.noarch.rpm", s.Name, s.Version, s.Release)
}

// bypassActivities is a worker whose overlay "site" may be bypassed for
// openssl* and sudo, with its RPMs signed by gpgKey when one is given.
// Production serves the overlay with production's files, testing with
// those and testing's: each channel, as a daily sync would, a release of
// a fresh snapshot of the overlay.
func bypassActivities(t *testing.T, gpgKey string, production, testing []string) *RepoActivities {
	t.Helper()
	dir := t.TempDir()
	yaml := "store: store\nrepos:\n  - name: site\n    overlay: true\n    bypass:\n      allow: [\"openssl*\", sudo]\n"
	if gpgKey != "" {
		yaml += "    gpgKey: " + gpgKey + "\n"
	}
	cfg, err := config.Parse(filepath.Join(dir, "osflow.yaml"), []byte(yaml))
	require.NoError(t, err)
	st, err := repo.Open(cfg.Store)
	require.NoError(t, err)
	a := &RepoActivities{Store: st, Mirror: NewMirror(st, cfg, nil), Config: cfg}
	day := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	for i, ch := range []struct {
		name  string
		files []string
	}{{"production", production}, {"testing", testing}} {
		if len(ch.files) > 0 {
			_, err := st.OverlayAdd(t.Context(), "site", ch.files)
			require.NoError(t, err)
		}
		sync, err := execute[RepoSync](t, a, a.SyncRepo, SyncRepoInput{Repo: "site"})
		require.NoError(t, err)
		rel, _, err := st.CreateRelease(day.AddDate(0, 0, i), map[string]string{"site": sync.Snapshot})
		require.NoError(t, err)
		switchAll(t, st, ch.name, rel.ID)
	}
	return a
}

// copyTo copies file into dir, for a variant (signed or not) of one build.
func copyTo(t *testing.T, file, dir string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	dst := filepath.Join(dir, filepath.Base(file))
	require.NoError(t, os.WriteFile(dst, data, 0o644))
	return dst
}

// signer makes a throwaway key in dir and signs copies of files into
// dir/signed.
func signer(t *testing.T, dir string, files ...string) (key string, signed map[string]string) {
	t.Helper()
	testtool.Need(t, "gpg", "gpgconf", "rpmsign", "rpmkeys")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	s, err := upstream.NewSigner(t.Context(), dir)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	signed = map[string]string{}
	for _, f := range files {
		signed[filepath.Base(f)] = copyTo(t, f, filepath.Join(dir, "signed"))
	}
	require.NoError(t, s.SignRPM(t.Context(), slices.Collect(maps.Values(signed))...))
	return s.PublicKey, signed
}

// regularFiles lists the regular files under dir, relative to it.
func regularFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return err
	}))
	return out
}

// execute runs one attempt of the activity fn of acts and decodes its
// result.
func execute[T any](t *testing.T, acts, fn any, args ...any) (T, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	v, err := env.ExecuteActivity(fn, args...)
	if err != nil {
		var zero T
		return zero, err
	}
	return decode[T](t, v), nil
}

func stage(t *testing.T, a *RepoActivities, in StageBypassInput) ([]StagedRPM, error) {
	t.Helper()
	return execute[[]StagedRPM](t, a, a.StageBypass, in)
}

// TestStageBypass checks every package of a bypass against the overlay's
// policy with real RPMs, real rpmkeys and a real store: each refusal is
// non-retryable and says what and where, and leaves nothing in the
// store's staging area; what passes is staged with its NEVRA, checksum and
// the build it replaces.
func TestStageBypass(t *testing.T) {
	dir := t.TempDir()
	rpms := buildRPMs(t, sslProduction, sslTesting, sslFix, sslNoEpoch, curlSpec)
	key, signed := signer(t, filepath.Join(dir, "site"), rpms[rpmFile(sslFix)], rpms[rpmFile(sslNoEpoch)], rpms[rpmFile(curlSpec)])
	_, otherSigned := signer(t, filepath.Join(dir, "other"), rpms[rpmFile(sslFix)])
	a := bypassActivities(t, key, []string{rpms[rpmFile(sslProduction)]}, []string{rpms[rpmFile(sslTesting)]})
	overlayBefore, err := a.Store.OverlayList("site")
	require.NoError(t, err)

	good := signed[rpmFile(sslFix)]
	goodSum, err := fileDigest(good)
	require.NoError(t, err)
	unsigned := rpms[rpmFile(sslFix)]
	unsignedSum, err := fileDigest(unsigned)
	require.NoError(t, err)
	notRPM := filepath.Join(dir, "openssl-1.2-1.noarch.rpm")
	require.NoError(t, os.WriteFile(notRPM, []byte("<html>mirror maintenance</html>\n"), 0o644))

	// The vendor's server, and a CDN on another host it might redirect to.
	cdn := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(good))))
	t.Cleanup(cdn.Close)
	mux := http.NewServeMux()
	mux.Handle("/pub/", http.StripPrefix("/pub/", http.FileServer(http.Dir(filepath.Dir(good)))))
	mux.HandleFunc("/moved/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/pub/"+filepath.Base(r.URL.Path), http.StatusFound)
	})
	mux.HandleFunc("/cdn/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, cdn.URL+"/"+filepath.Base(r.URL.Path), http.StatusFound)
	})
	vendor := httptest.NewServer(mux)
	t.Cleanup(vendor.Close)
	fixURL := vendor.URL + "/pub/" + rpmFile(sslFix)

	wantFix := StagedRPM{Path: good, NEVRA: "openssl-1:1.2-1.noarch", SHA256: goodSum, Replaces: "openssl-1:1.1-2.noarch"}
	for _, tc := range []struct {
		name    string
		pkgs    []BypassPackageInput
		errType string
		want    []string // in the message: what and where
		hide    string   // not in the message
	}{
		{name: "name outside bypass.allow", pkgs: []BypassPackageInput{{Path: signed[rpmFile(curlSpec)]}}, errType: ErrTypeInvalidInput,
			want: []string{rpmFile(curlSpec) + ": package curl is not allowed in overlay site (bypass.allow: openssl*, sudo)"}},
		{name: "one refused package refuses the bypass", pkgs: []BypassPackageInput{{Path: good}, {Path: signed[rpmFile(curlSpec)]}},
			errType: ErrTypeInvalidInput, want: []string{"package curl is not allowed in overlay site"}},
		{name: "older than testing serves", pkgs: []BypassPackageInput{{Path: signed[rpmFile(sslNoEpoch)]}}, errType: ErrTypeInvalidInput,
			want: []string{"openssl-3.0-1.noarch is older than openssl-1:1.1-2.noarch, which testing serves: a downgrade (--allow-downgrade to force it)"}},
		{name: "not an RPM", pkgs: []BypassPackageInput{{Path: notRPM}}, errType: ErrTypeInvalidInput,
			want: []string{notRPM + " is not a readable RPM"}},
		{name: "relative path", pkgs: []BypassPackageInput{{Path: filepath.Join("signed", rpmFile(sslFix))}}, errType: ErrTypeInvalidInput,
			want: []string{"signed/" + rpmFile(sslFix) + ": not an absolute path on the store host"}},
		{name: "path through STORE/tmp and back out", pkgs: []BypassPackageInput{{Path: traversing(a.Store.TempDir(), good)}}, errType: ErrTypeInvalidInput,
			want: []string{"Packages[0].Path: \"" + traversing(a.Store.TempDir(), good) + "\": not a clean path (it reads as " + good + ")"}},
		{name: "second package's path with a dot", pkgs: []BypassPackageInput{{Path: good}, {Path: filepath.Dir(good) + "/./" + filepath.Base(good)}}, errType: ErrTypeInvalidInput,
			want: []string{"Packages[1].Path: ", "not a clean path"}},
		{name: "sha256 not hex", pkgs: []BypassPackageInput{{Path: good, SHA256: "../../etc"}}, errType: ErrTypeInvalidInput,
			want: []string{`Packages[0].SHA256: "../../etc" is not a SHA-256`}},
		{name: "missing file", pkgs: []BypassPackageInput{{Path: good + ".gone"}}, errType: ErrTypeInvalidInput,
			want: []string{good + ".gone: not a regular file on the store host"}},
		{name: "path not matching its sha256", pkgs: []BypassPackageInput{{Path: good, SHA256: unsignedSum}}, errType: ErrTypeBadContent,
			want: []string{good + ": SHA-256 " + goodSum + ", not the " + unsignedSum + " given"}},
		{name: "unsigned", pkgs: []BypassPackageInput{{Path: unsigned}}, errType: ErrTypeBadContent,
			want: []string{rpmFile(sslFix) + " is not signed by the key in " + key}},
		{name: "signed with another key", pkgs: []BypassPackageInput{{Path: otherSigned[rpmFile(sslFix)]}}, errType: ErrTypeBadContent,
			want: []string{rpmFile(sslFix) + " is not signed by the key in " + key, "SIGNATURES NOT OK"}},
		{name: "download not matching its sha256", pkgs: []BypassPackageInput{{URL: fixURL, SHA256: unsignedSum}}, errType: ErrTypeBadContent,
			want: []string{fixURL + ": SHA-256 " + goodSum + ", not the " + unsignedSum + " given: nothing was kept"}},
		{name: "download without sha256", pkgs: []BypassPackageInput{{URL: fixURL}}, errType: ErrTypeInvalidInput,
			want: []string{fixURL + ": a downloaded package needs its SHA-256 (--sha256)"}},
		{name: "download with credentials", pkgs: []BypassPackageInput{{URL: "http://bob:s3cret@" + strings.TrimPrefix(fixURL, "http://") + "?token=t0ken", SHA256: goodSum}},
			errType: ErrTypeInvalidInput, want: []string{fixURL + ": an http(s) URL without credentials, please"}, hide: "s3cret"},
		{name: "download from another scheme", pkgs: []BypassPackageInput{{URL: "file://" + good, SHA256: goodSum}}, errType: ErrTypeInvalidInput,
			want: []string{"file://" + good + ": an http(s) URL without credentials, please"}},
		{name: "redirect to another host", pkgs: []BypassPackageInput{{URL: vendor.URL + "/cdn/" + rpmFile(sslFix), SHA256: goodSum}}, errType: ErrTypeBadContent,
			want: []string{vendor.URL + "/cdn/" + rpmFile(sslFix) + " redirects to " + cdn.URL + ": a bypass downloads only from the host it names"}},
		{name: "404", pkgs: []BypassPackageInput{{URL: vendor.URL + "/pub/openssl-9.9-1.noarch.rpm", SHA256: goodSum}}, errType: ErrTypeInvalidInput,
			want: []string{"download " + vendor.URL + "/pub/openssl-9.9-1.noarch.rpm: 404 Not Found"}},
	} {
		t.Run("refuses/"+tc.name, func(t *testing.T) {
			before := regularFiles(t, a.Store.TempDir())
			_, err := stage(t, a, StageBypassInput{Overlay: "site", Packages: tc.pkgs, Key: "bypass-" + tc.name})
			requireRefusal(t, err, tc.errType, tc.want...)
			if tc.hide != "" {
				require.NotContains(t, err.Error(), tc.hide)
			}
			require.Equal(t, before, regularFiles(t, a.Store.TempDir()), "a refused package leaves nothing in STORE/tmp")
		})
	}
	for _, tc := range []struct {
		name           string
		pkgs           []BypassPackageInput
		allowDowngrade bool
		want           []StagedRPM
	}{
		{name: "signed, allowed and newer", pkgs: []BypassPackageInput{{Path: good, SHA256: strings.ToUpper(goodSum)}}, want: []StagedRPM{wantFix}},
		{name: "downgrade allowed", pkgs: []BypassPackageInput{{Path: signed[rpmFile(sslNoEpoch)]}}, allowDowngrade: true,
			want: []StagedRPM{{Path: signed[rpmFile(sslNoEpoch)], NEVRA: "openssl-3.0-1.noarch", Replaces: "openssl-1:1.1-2.noarch"}}},
		{name: "download redirected on its host", pkgs: []BypassPackageInput{{URL: vendor.URL + "/moved/" + rpmFile(sslFix), SHA256: goodSum}},
			want: []StagedRPM{wantFix}},
	} {
		t.Run("accepts/"+tc.name, func(t *testing.T) {
			got, err := stage(t, a, StageBypassInput{Overlay: "site", Packages: tc.pkgs, AllowDowngrade: tc.allowDowngrade, Key: "bypass-" + tc.name})
			require.NoError(t, err)
			require.Len(t, got, len(tc.want))
			for i := range got {
				sum, err := fileDigest(got[i].Path)
				require.NoError(t, err)
				require.Equal(t, got[i].SHA256, sum, "the staged file is the one checked")
				if tc.pkgs[i].URL != "" {
					require.True(t, strings.HasPrefix(got[i].Path, a.Store.TempDir()+string(filepath.Separator)), "a download is staged in STORE/tmp: %s", got[i].Path)
					tc.want[i].Path = got[i].Path
				}
				if tc.want[i].SHA256 == "" {
					tc.want[i].SHA256 = sum
				}
			}
			require.Equal(t, tc.want, got)
		})
	}
	t.Run("retried with the same key", func(t *testing.T) {
		before := regularFiles(t, a.Store.TempDir())
		in := StageBypassInput{Overlay: "site", Packages: []BypassPackageInput{{URL: fixURL, SHA256: goodSum}}, Key: "bypass-site-2/run/stage"}
		// An earlier attempt killed in the middle of its download.
		dead := filepath.Join(stagingDir(a.Store, in.Key), ".download-1234")
		require.NoError(t, os.MkdirAll(filepath.Dir(dead), 0o755))
		require.NoError(t, os.WriteFile(dead, []byte("half an rpm"), 0o644))
		first, retry := runTwice(t, noHeartbeat, a, a.StageBypass, in)
		got := decode[[]StagedRPM](t, retry)
		require.Equal(t, decode[[]StagedRPM](t, first), got)
		after := regularFiles(t, a.Store.TempDir())
		require.Len(t, after, len(before)+1, "one download kept, in one staging directory: %v", after)
		require.Contains(t, after, mustRel(t, a.Store.TempDir(), got[0].Path))
	})

	overlay, err := a.Store.OverlayList("site")
	require.NoError(t, err)
	require.Equal(t, overlayBefore, overlay, "staging never touches the overlay")

	// Two bypasses in a row, the second checked against what the first
	// put on the channels: each channel serves its own overlay plus both
	// bypasses' packages, and production nothing only testing had.
	t.Run("successive bypasses", func(t *testing.T) {
		for i, c := range []struct {
			pkg            string
			allowDowngrade bool
			replaces       string
		}{
			{pkg: good, replaces: "openssl-1:1.1-2.noarch"},
			{pkg: signed[rpmFile(sslNoEpoch)], allowDowngrade: true, replaces: "openssl-1:1.2-1.noarch"},
		} {
			key := fmt.Sprintf("bypass-site-%d/run", 10+i)
			staged, err := stage(t, a, StageBypassInput{Overlay: "site", Packages: []BypassPackageInput{{Path: c.pkg}},
				AllowDowngrade: c.allowDowngrade, Key: key + "/stage"})
			require.NoError(t, err)
			require.Equal(t, c.replaces, staged[0].Replaces)
			res, err := execute[BypassResult](t, a, a.ApplyBypass, ApplyBypassInput{Overlay: "site", Files: staged,
				Channels: []string{"testing", "production"}, Bypass: key, Key: key + "/apply", Actor: "cli/bob", Reason: "CVE-2026-1234"})
			require.NoError(t, err)
			require.Equal(t, res.Snapshot, mustChannelSnapshot(t, a.Store, "production", "site"), "production serves bypass %d", i+1)
			for _, ch := range []string{"testing", "production"} {
				require.Contains(t, channelNEVRAs(t, a.Store, ch), staged[0].NEVRA, "%s serves bypass %d", ch, i+1)
			}
		}
		require.ElementsMatch(t, []string{"openssl-1:1.1-1.noarch", "openssl-1:1.2-1.noarch", "openssl-3.0-1.noarch"}, channelNEVRAs(t, a.Store, "production"),
			"production: its overlay and the two bypasses, not testing's 1:1.1-2")
		require.ElementsMatch(t, []string{"openssl-1:1.1-1.noarch", "openssl-1:1.1-2.noarch", "openssl-1:1.2-1.noarch", "openssl-3.0-1.noarch"}, channelNEVRAs(t, a.Store, "testing"))

		// The candidate page and the risk report list both, from production.
		testingRel, err := a.Store.Channel("testing")
		require.NoError(t, err)
		sum, err := a.DiffSummary(t.Context(), DiffSummaryInput{From: "production", To: testingRel})
		require.NoError(t, err)
		var listed []string
		for _, b := range sum.Bypasses {
			listed = append(listed, b.ID+" "+strings.Join(b.Packages, ","))
		}
		require.Equal(t, []string{"bypass-site-10/run openssl-1:1.2-1.noarch", "bypass-site-11/run openssl-3.0-1.noarch"}, listed)
		sum, err = a.DiffSummary(t.Context(), DiffSummaryInput{From: "testing", To: testingRel})
		require.NoError(t, err)
		require.Empty(t, sum.Bypasses, "only a diff from production lists them")
	})
}

// mustChannelSnapshot is the snapshot of repo in the release a channel
// serves.
func mustChannelSnapshot(t *testing.T, st *repo.Store, channel, repoName string) string {
	t.Helper()
	cur, err := st.Channel(channel)
	require.NoError(t, err)
	rel, err := st.Release(cur)
	require.NoError(t, err)
	return rel.Repos[repoName]
}

// channelNEVRAs lists the packages of the overlay "site" a channel serves.
func channelNEVRAs(t *testing.T, st *repo.Store, channel string) []string {
	t.Helper()
	pkgs, err := st.Manifest("site", mustChannelSnapshot(t, st, channel, "site"))
	require.NoError(t, err)
	var nevras []string
	for _, p := range pkgs {
		nevras = append(nevras, p.NEVRA())
	}
	return nevras
}

// requireRefusal checks that err is a non-retryable application error of
// type typ whose message holds every one of parts.
func requireRefusal(t *testing.T, err error, typ string, parts ...string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%T: %v", err, err)
	require.Equal(t, typ, appErr.Type(), appErr.Error())
	require.True(t, appErr.NonRetryable(), appErr.Error())
	for _, p := range parts {
		require.Contains(t, appErr.Error(), p)
	}
}

// traversing names file by a path that starts in dir and climbs back out
// to the root with "..": the same file, as a hand-made workflow input
// could name it.
func traversing(dir, file string) string {
	return dir + strings.Repeat("/..", strings.Count(dir, "/")) + file
}

// TestApplyBypassRefusesBadInput: the activity is the boundary, whoever
// started the workflow. Input StageBypass could not have produced is
// refused, non-retryable, naming the field, and changes nothing.
func TestApplyBypassRefusesBadInput(t *testing.T) {
	rpms := buildRPMs(t, sslProduction, sslFix)
	a := bypassActivities(t, "", []string{rpms[rpmFile(sslProduction)]}, nil)
	staged, err := stage(t, a, StageBypassInput{Overlay: "site", Packages: []BypassPackageInput{{Path: rpms[rpmFile(sslFix)]}}, Key: "bypass-site-1/run/stage"})
	require.NoError(t, err)
	good := ApplyBypassInput{Overlay: "site", Files: staged, Channels: []string{"testing", "production"},
		Bypass: "bypass-site-1", Key: "bypass-site-1/run/apply", Actor: "cli/bob", Reason: "CVE-2026-1234"}
	fix := staged[0]
	other := rpms[rpmFile(sslProduction)]
	for _, tc := range []struct {
		name    string
		edit    func(in *ApplyBypassInput)
		errType string
		want    string
	}{
		{"traversing path", func(in *ApplyBypassInput) {
			in.Files = []StagedRPM{{Path: traversing(a.Store.TempDir(), fix.Path), NEVRA: fix.NEVRA, SHA256: fix.SHA256}}
		}, ErrTypeInvalidInput, "Files[0].Path: \"" + traversing(a.Store.TempDir(), fix.Path) + "\": not a clean path"},
		{"relative path", func(in *ApplyBypassInput) {
			in.Files = []StagedRPM{{Path: "pkg.rpm", NEVRA: fix.NEVRA, SHA256: fix.SHA256}}
		},
			ErrTypeInvalidInput, "Files[0].Path: pkg.rpm: not an absolute path on the store host"},
		{"NEVRA with a slash", func(in *ApplyBypassInput) {
			in.Files = []StagedRPM{{Path: fix.Path, NEVRA: "../openssl-1.2-1.noarch", SHA256: fix.SHA256}}
		},
			ErrTypeInvalidInput, `Files[0].NEVRA: "../openssl-1.2-1.noarch" is not a package's name-[epoch:]version-release.arch`},
		{"no checksum", func(in *ApplyBypassInput) { in.Files = []StagedRPM{{Path: fix.Path, NEVRA: fix.NEVRA}} },
			ErrTypeInvalidInput, `Files[0].SHA256: "" is not a SHA-256`},
		{"file swapped after staging", func(in *ApplyBypassInput) {
			in.Files = []StagedRPM{{Path: other, NEVRA: fix.NEVRA, SHA256: fix.SHA256}}
		},
			ErrTypeBadContent, "Files[0].Path: " + other + ": SHA-256 "},
		{"bad channel", func(in *ApplyBypassInput) { in.Channels = []string{"testing", "../production"} },
			ErrTypeInvalidInput, `Channels[1]: channel name "../production" must match`},
		{"no packages", func(in *ApplyBypassInput) { in.Files = nil }, ErrTypeInvalidInput, "Files: a bypass needs at least one package"},
		{"no reason", func(in *ApplyBypassInput) { in.Reason = " " }, ErrTypeInvalidInput, "Reason: required"},
		{"not an overlay", func(in *ApplyBypassInput) { in.Overlay = "../site" }, ErrTypeInvalidInput, `Overlay: "../site" is not an overlay`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := good
			tc.edit(&in)
			_, err := execute[BypassResult](t, a, a.ApplyBypass, in)
			requireRefusal(t, err, tc.errType, tc.want)
			for _, ch := range good.Channels {
				log, err := a.Store.History(ch)
				require.NoError(t, err)
				require.Len(t, log, 1, "%s did not move", ch)
			}
			overlay, err := a.Store.OverlayList("site")
			require.NoError(t, err)
			require.Len(t, overlay, 1, "the overlay is untouched")
		})
	}
}

func mustRel(t *testing.T, base, p string) string {
	t.Helper()
	rel, err := filepath.Rel(base, p)
	require.NoError(t, err)
	return rel
}

// testApplyBypassRetry: a bypass applied again after its completion was
// lost returns the same snapshot and switches, and the store records one
// switch per channel and one bypass.
func testApplyBypassRetry(t *testing.T, j journal) {
	rpms := buildRPMs(t, sslProduction, sslFix)
	a := bypassActivities(t, "", []string{rpms[rpmFile(sslProduction)]}, nil)
	staged, err := stage(t, a, StageBypassInput{Overlay: "site", Packages: []BypassPackageInput{{Path: rpms[rpmFile(sslFix)]}}, Key: "bypass-site-1/run/stage"})
	require.NoError(t, err)
	in := ApplyBypassInput{Overlay: "site", Files: staged, Channels: []string{"testing", "production"},
		Bypass: "bypass-site-1", Key: "bypass-site-1/run/apply", Actor: "cli/bob", Reason: "CVE-2026-1234"}
	first, retry := runTwice(t, j, a, a.ApplyBypass, in)
	res := decode[BypassResult](t, retry)
	require.Equal(t, decode[BypassResult](t, first), res)
	require.Len(t, res.Switches, 2)
	for i, ch := range in.Channels {
		sw := res.Switches[i]
		require.Equal(t, ch, sw.Channel)
		require.True(t, sw.Changed, "the retry reports the switch its first attempt made")
		log, err := a.Store.History(ch)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(sw.Key, in.Key), "the switch is keyed by the bypass: %s", sw.Key)
		keyed := slices.DeleteFunc(log, func(e repo.Switch) bool { return e.Key != sw.Key })
		require.Len(t, keyed, 1, "one switch of %s for the bypass", ch)
		cur, err := a.Store.Channel(ch)
		require.NoError(t, err)
		require.Equal(t, sw.To, cur)
		newest, err := a.Store.Newest(cur, "openssl", "noarch")
		require.NoError(t, err)
		require.Equal(t, "openssl-1:1.2-1.noarch", newest.NEVRA(), "%s serves the fix", ch)
	}
	recs, err := a.Store.Bypasses()
	require.NoError(t, err)
	require.Len(t, recs, 1, "one record in STORE/bypasses.log")
	require.Equal(t, res.Snapshot, recs[0].Snapshot)
	require.Equal(t, []string{"openssl-1:1.2-1.noarch"}, recs[0].Packages)
}

// TestApplyBypassAfterAPartialAttempt: the first attempt's worker died
// inside the store's part of the bypass, after testing (or both channels)
// switched and before the record. The activity's retry completes it: one
// record, each channel switched once, reported as changed from the release
// it served before.
func TestApplyBypassAfterAPartialAttempt(t *testing.T) {
	rpms := buildRPMs(t, sslProduction, sslTesting, sslFix)
	for _, point := range []string{"switch testing", "switch production"} {
		t.Run(point, func(t *testing.T) {
			a := bypassActivities(t, "", []string{rpms[rpmFile(sslProduction)]}, []string{rpms[rpmFile(sslTesting)]})
			staged, err := stage(t, a, StageBypassInput{Overlay: "site", Packages: []BypassPackageInput{{Path: rpms[rpmFile(sslFix)]}}, Key: "bypass-site-1/run/stage"})
			require.NoError(t, err)
			in := ApplyBypassInput{Overlay: "site", Files: staged, Channels: []string{"testing", "production"},
				Bypass: "bypass-site-1", Key: "bypass-site-1/run/apply", Actor: "cli/bob", Reason: "CVE-2026-1234"}
			before := map[string]string{}
			for _, ch := range in.Channels {
				before[ch], err = a.Store.Channel(ch)
				require.NoError(t, err)
			}
			// The first attempt, as the activity makes it, killed at point.
			_, err = a.Store.OverlayAdd(t.Context(), "site", []string{staged[0].Path})
			require.NoError(t, err)
			snap, err := execute[RepoSync](t, a, a.SyncRepo, SyncRepoInput{Repo: "site"})
			require.NoError(t, err)
			_, err = a.Store.ApplyBypass(t.Context(), repo.BypassRequest{Overlay: "site", Snapshot: snap.Snapshot, Channels: in.Channels,
				Bypass: in.Bypass, Key: in.Key, Actor: in.Actor, Reason: in.Reason, Packages: []string{staged[0].NEVRA},
				Crash: func(p string) error {
					if p == point {
						return errors.New("killed")
					}
					return nil
				}})
			require.ErrorContains(t, err, "killed")
			moved, err := a.Store.Channel("testing")
			require.NoError(t, err)
			require.NotEqual(t, before["testing"], moved, "the first attempt switched testing")

			res, err := execute[BypassResult](t, a, a.ApplyBypass, in)
			require.NoError(t, err, "the retry completes the bypass")
			require.Len(t, res.Switches, 2)
			for i, ch := range in.Channels {
				sw := res.Switches[i]
				require.Equal(t, ch, sw.Channel)
				require.True(t, sw.Changed, "%s: reported as changed", ch)
				require.Equal(t, before[ch], sw.From, "%s: from the release it served before", ch)
				require.Contains(t, channelNEVRAs(t, a.Store, ch), "openssl-1:1.2-1.noarch", "%s serves the fix", ch)
				log, err := a.Store.History(ch)
				require.NoError(t, err)
				require.Len(t, slices.DeleteFunc(log, func(e repo.Switch) bool { return e.Key != sw.Key }), 1, "%s switched once", ch)
			}
			require.NotContains(t, channelNEVRAs(t, a.Store, "production"), "openssl-1:1.1-2.noarch", "production: nothing only testing had")
			recs, err := a.Store.Bypasses()
			require.NoError(t, err)
			require.Len(t, recs, 1, "recorded once")
			require.Equal(t, res.Snapshot, recs[0].Snapshot)
		})
	}
}

// TestBypassPlan reads an overlay's bypass policy from the worker's
// configuration, and refuses what cannot be bypassed, naming the file.
func TestBypassPlan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "osflow.yaml")
	cfg, err := config.Parse(path, []byte(`store: store
channels: {testing: test, production: prod}
production: {approvers: [alice, bob]}
temporal: {repoTaskQueue: site-repo}
repos:
  - name: baseos
    url: http://mirror.invalid/baseos/
  - name: site
    overlay: true
    bypass: {allow: ["openssl*"], requireApproval: true}
  - name: local
    overlay: true
`))
	require.NoError(t, err)
	a := &ConfigActivities{Config: cfg}
	for _, tc := range []struct {
		overlay string
		want    BypassPlan
		err     string
	}{
		{overlay: "site", want: BypassPlan{Overlay: "site", RequireApproval: true, Approvers: []string{"alice", "bob"},
			Channels: []string{"test", "prod"}, RepoTaskQueue: "site-repo"}},
		{overlay: "baseos", err: "repo baseos is a mirror: only an overlay can be bypassed"},
		{overlay: "local", err: "overlay local has no bypass policy (repos[].bypass.allow in " + path + ")"},
		{overlay: "epel", err: `"epel" is not a repo of ` + path},
	} {
		t.Run(tc.overlay, func(t *testing.T) {
			plan, err := execute[BypassPlan](t, a, a.BypassPlan, OverlayInput{Overlay: tc.overlay})
			if tc.err == "" {
				require.NoError(t, err)
				require.Equal(t, tc.want, plan)
				return
			}
			requireRefusal(t, err, ErrTypeInvalidInput, tc.err)
		})
	}
}

// TestVisibleLooksInTheOverlayOnly: the check after a bypass asks real dnf
// for the overlay repo of the channel alone, so the mirrors beside it (here
// one whose metadata is gone) neither slow it nor fail it; a bypass
// started before the overlay was passed still checks every repo.
func TestVisibleLooksInTheOverlayOnly(t *testing.T) {
	testtool.Need(t, "dnf")
	rpms := buildRPMs(t, sslFix)
	root := t.TempDir()
	site := filepath.Join(root, "production", "site")
	require.NoError(t, os.MkdirAll(site, 0o755))
	copyTo(t, rpms[rpmFile(sslFix)], site)
	out, err := exec.Command("createrepo_c", site).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.MkdirAll(filepath.Join(root, "production", "baseos"), 0o755)) // no repodata
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	t.Cleanup(srv.Close)
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "osflow.yaml"), []byte("store: store\nhttp:\n  baseURL: "+srv.URL+"\nrepos:\n"+
		"  - name: baseos\n    url: http://mirror.example/baseos/\n  - name: site\n    overlay: true\n"))
	require.NoError(t, err)
	a := &TestActivities{Config: cfg}

	for _, tc := range []struct {
		name string
		in   VisibleInput
		err  string
	}{
		{name: "the fix in the overlay", in: VisibleInput{Channel: "production", NEVRAs: []string{"openssl-1:1.2-1.noarch"}, Overlay: "site"}},
		{name: "a build the overlay lacks", in: VisibleInput{Channel: "production", NEVRAs: []string{"openssl-1:1.3-1.noarch"}, Overlay: "site"},
			err: "dnf does not see openssl-1:1.3-1.noarch on production"},
		{name: "every repo, as before", in: VisibleInput{Channel: "production", NEVRAs: []string{"openssl-1:1.2-1.noarch"}},
			err: "baseos"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestActivityEnvironment()
			env.RegisterActivity(a)
			_, err := env.ExecuteActivity(a.Visible, tc.in)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}
