package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/ci"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
	"github.com/osflow/osflow/internal/approvalsig"
)

// BypassPlan is an overlay's bypass policy as the worker's configuration
// says it.
type BypassPlan struct {
	Overlay         string
	RequireApproval bool
	Approvers       []string
	// ApproverKeys and RequireSigned are production's: a bypass approval
	// is signed like a promotion's.
	ApproverKeys  map[string]string `json:",omitempty"`
	RequireSigned bool              `json:",omitempty"`
	Channels      []string          // testing, then production
	RepoTaskQueue string
}

// OverlayInput names an overlay repo.
type OverlayInput struct {
	Overlay string
}

// BypassAnnouncement tells the running workflows about a bypass.
type BypassAnnouncement struct {
	Bypass   string
	Overlay  string
	Snapshot string
	Testing  string // the release testing serves now
	Reason   string
	Actor    string
}

// BypassPackageInput is one package of a bypass, as BypassInput gives it.
type BypassPackageInput struct {
	Path   string
	URL    string
	SHA256 string
}

// StageBypassInput checks a bypass's packages and stages them on the
// store host.
type StageBypassInput struct {
	Overlay        string
	Packages       []BypassPackageInput
	AllowDowngrade bool
	// Key names the bypass: its staging directory.
	Key string
}

// StagedRPM is one checked package, ready for the overlay.
type StagedRPM struct {
	Path   string
	NEVRA  string
	SHA256 string
	// Replaces is the newest build of the same name the channels had.
	Replaces string
}

// ApplyBypassInput adds the staged packages to the overlay and puts them
// on the channels.
type ApplyBypassInput struct {
	Overlay  string
	Files    []StagedRPM
	Channels []string
	Bypass   string
	Key      string
	Actor    string
	Reason   string
	// Signed is the bypass's signed approval, for bypasses.log.
	Signed *approvalsig.Signed `json:",omitempty"`
}

// BypassResult is what a bypass did to the store.
type BypassResult struct {
	// Snapshot is the overlay's snapshot production (the last channel)
	// serves now: its own plus the packages.
	Snapshot string
	Switches []ChannelSwitch
}

// VisibleInput asks whether a channel offers packages.
type VisibleInput struct {
	Channel string
	NEVRAs  []string
	// Overlay is the repo to look in; empty (a bypass started before it
	// was passed) looks in all of the channel's repos.
	Overlay string
}

// maxBypassDownload bounds one downloaded RPM.
const maxBypassDownload = 2 << 30

// BypassPlan reads an overlay's bypass policy. An overlay without one, or
// a repo that is no overlay, cannot be bypassed.
func (a *ConfigActivities) BypassPlan(_ context.Context, in OverlayInput) (BypassPlan, error) {
	c := a.Config
	rc, ok := c.Repo(in.Overlay)
	switch {
	case !ok:
		return BypassPlan{}, invalid(fmt.Sprintf("%q is not a repo of %s", in.Overlay, c.Path))
	case !rc.Overlay:
		return BypassPlan{}, invalid(fmt.Sprintf("repo %s is a mirror: only an overlay can be bypassed", rc.Name))
	case rc.Bypass == nil:
		return BypassPlan{}, invalid(fmt.Sprintf("overlay %s has no bypass policy (repos[].bypass.allow in %s)", rc.Name, c.Path))
	}
	return BypassPlan{
		Overlay: rc.Name, RequireApproval: rc.Bypass.RequireApproval, Approvers: c.Production.Approvers,
		ApproverKeys: c.Production.ApproverKeys, RequireSigned: c.Production.RequireSignedApprovals,
		Channels: []string{c.Channels.Testing, c.Channels.Production}, RepoTaskQueue: c.Temporal.RepoTaskQueue,
	}, nil
}

// StageBypass checks every package of a bypass before any reaches the
// overlay: a URL's download must match its SHA-256 (and redirects stay on
// its host), each file must be an RPM whose name the overlay's
// bypass.allow patterns admit, signed by the overlay's key when it
// requires signatures, and no older than what testing or production has
// of it (unless AllowDowngrade). One refused package refuses the bypass.
func (a *RepoActivities) StageBypass(ctx context.Context, in StageBypassInput) ([]StagedRPM, error) {
	rc, ok := a.Config.Repo(in.Overlay)
	if !ok || !rc.Overlay || rc.Bypass == nil {
		return nil, invalid(fmt.Sprintf("Overlay: %q is not an overlay with a bypass policy in %s", in.Overlay, a.Config.Path))
	}
	if len(in.Packages) == 0 {
		return nil, invalid("Packages: a bypass needs at least one package")
	}
	for i, p := range in.Packages {
		if err := checkBypassPackage(i, p); err != nil {
			return nil, err
		}
	}
	defer a.keepAlive(ctx)()
	dir := stagingDir(a.Store, opKey(ctx, in.Key))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// A download an earlier attempt was killed in the middle of: this
	// attempt downloads it again.
	partial, _ := filepath.Glob(filepath.Join(dir, ".download-*"))
	for _, p := range partial {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	var out []StagedRPM
	for i, p := range in.Packages {
		file, digest, err := a.fetchBypassPackage(ctx, dir, i, p)
		if err != nil {
			return nil, err
		}
		staged, err := a.checkBypassPackage(ctx, rc, file, in.AllowDowngrade)
		if err != nil {
			return nil, err
		}
		staged.SHA256 = digest
		out = append(out, staged)
	}
	return out, nil
}

// checkBypassPackage refuses a package whose path or checksum could not
// have come from the CLI: a workflow's input reaches the activity
// unchecked (the Web UI, temporal workflow start), so a path such as
// STORE/tmp/../../etc/x.rpm is refused here, naming the field.
func checkBypassPackage(i int, p BypassPackageInput) error {
	field := fmt.Sprintf("Packages[%d]", i)
	if p.Path != "" {
		if err := checkHostPath(field+".Path", p.Path); err != nil {
			return err
		}
	}
	if p.SHA256 != "" && !isSHA256(p.SHA256) {
		return invalid(fmt.Sprintf("%s.SHA256: %q is not a SHA-256 (64 hex digits)", field, p.SHA256))
	}
	return nil
}

// checkHostPath accepts only an absolute path that is its own clean form:
// no "..", "." or doubled slash to make it mean another file than it says.
func checkHostPath(field, p string) error {
	switch {
	case !filepath.IsAbs(p):
		return invalid(fmt.Sprintf("%s: %s: not an absolute path on the store host", field, p))
	case filepath.Clean(p) != p || strings.ContainsRune(p, 0):
		return invalid(fmt.Sprintf("%s: %q: not a clean path (it reads as %s): give the file's own absolute path", field, p, filepath.Clean(p)))
	}
	return nil
}

func isSHA256(s string) bool {
	return len(s) == sha256.Size*2 && strings.Trim(strings.ToLower(s), "0123456789abcdef") == ""
}

// checkApplyBypass refuses an ApplyBypassInput that StageBypass could not
// have produced: the activity is the boundary, whoever started the
// workflow. Each staged file must still be the one checked.
func checkApplyBypass(in ApplyBypassInput) error {
	if len(in.Files) == 0 {
		return invalid("Files: a bypass needs at least one package")
	}
	for i, f := range in.Files {
		field := fmt.Sprintf("Files[%d]", i)
		if err := checkHostPath(field+".Path", f.Path); err != nil {
			return err
		}
		if !nevraName.MatchString(f.NEVRA) {
			return invalid(fmt.Sprintf("%s.NEVRA: %q is not a package's name-[epoch:]version-release.arch", field, f.NEVRA))
		}
		if !isSHA256(f.SHA256) {
			return invalid(fmt.Sprintf("%s.SHA256: %q is not a SHA-256 (64 hex digits)", field, f.SHA256))
		}
	}
	if len(in.Channels) == 0 {
		return invalid("Channels: no channel to put the bypass on")
	}
	for i, ch := range in.Channels {
		if err := repo.CheckChannelName(ch); err != nil {
			return invalid(fmt.Sprintf("Channels[%d]: %v", i, err))
		}
	}
	for _, f := range []struct{ name, value string }{{"Bypass", in.Bypass}, {"Key", in.Key}, {"Actor", in.Actor}, {"Reason", in.Reason}} {
		if strings.TrimSpace(f.value) == "" {
			return invalid(f.name + ": required")
		}
	}
	return nil
}

// nevraName is what rpm's %{NEVRA} prints: no slash, space or control
// character can be in it.
var nevraName = regexp.MustCompile(`^[A-Za-z0-9_.+^~-]+-([0-9]+:)?[A-Za-z0-9_.+^~]+-[A-Za-z0-9_.+^~]+\.[A-Za-z0-9_]+$`)

// stagingDir is where the bypass with operation key stages its downloads:
// the same for each of its attempts.
func stagingDir(st *repo.Store, key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(st.TempDir(), "bypass-"+hex.EncodeToString(sum[:8]))
}

// fetchBypassPackage returns a local copy of one package and its SHA-256,
// downloading a URL into dir.
func (a *RepoActivities) fetchBypassPackage(ctx context.Context, dir string, i int, p BypassPackageInput) (string, string, error) {
	switch {
	case p.URL != "" && p.Path != "":
		return "", "", invalid(fmt.Sprintf("package %d has both a path and a URL", i+1))
	case p.URL != "" && p.SHA256 == "":
		return "", "", invalid(fmt.Sprintf("%s: a downloaded package needs its SHA-256 (--sha256)", redactURL(p.URL)))
	case p.Path != "":
		fi, err := os.Stat(p.Path)
		if err != nil || !fi.Mode().IsRegular() {
			return "", "", invalid(fmt.Sprintf("%s: not a regular file on the store host (%v)", p.Path, err))
		}
		digest, err := fileDigest(p.Path)
		if err != nil {
			return "", "", err
		}
		if p.SHA256 != "" && !strings.EqualFold(p.SHA256, digest) {
			return "", "", badContent(fmt.Sprintf("%s: SHA-256 %s, not the %s given", p.Path, digest, p.SHA256))
		}
		return p.Path, digest, nil
	case p.URL != "":
		return downloadVerified(ctx, dir, p.URL, p.SHA256)
	default:
		return "", "", invalid(fmt.Sprintf("package %d has neither a path nor a URL", i+1))
	}
}

// downloadVerified downloads u into dir, following redirects only on the
// same scheme, host and port, and keeps the file only if its SHA-256 is
// want.
func downloadVerified(ctx context.Context, dir, u, want string) (string, string, error) {
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.User != nil {
		return "", "", invalid(fmt.Sprintf("%s: an http(s) URL without credentials, please", redactURL(u)))
	}
	client := &http.Client{Timeout: 30 * time.Minute, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != parsed.Scheme || req.URL.Host != parsed.Host {
			return badContent(fmt.Sprintf("%s redirects to %s://%s: a bypass downloads only from the host it names", redactURL(u), req.URL.Scheme, req.URL.Host))
		}
		if len(via) > 5 {
			return badContent(redactURL(u) + ": too many redirects")
		}
		return nil
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", "", invalid(err.Error())
	}
	resp, err := client.Do(req)
	if err != nil {
		var app *temporal.ApplicationError
		if errors.As(err, &app) {
			return "", "", app
		}
		return "", "", fmt.Errorf("download %s: %w", redactURL(u), err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
		return "", "", invalid(fmt.Sprintf("download %s: %s", redactURL(u), resp.Status))
	case resp.StatusCode != http.StatusOK:
		return "", "", fmt.Errorf("download %s: %s", redactURL(u), resp.Status)
	}
	name := path.Base(parsed.Path)
	if !strings.HasSuffix(name, ".rpm") || strings.HasPrefix(name, ".") {
		name = "package.rpm"
	}
	dst := filepath.Join(dir, fmt.Sprintf("%s-%s", want[:min(12, len(want))], name))
	f, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, maxBypassDownload+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", "", fmt.Errorf("download %s: %w", redactURL(u), err)
	}
	if n > maxBypassDownload {
		return "", "", badContent(fmt.Sprintf("%s: larger than %d bytes", redactURL(u), int64(maxBypassDownload)))
	}
	got := hex.EncodeToString(h.Sum(nil))
	if !strings.EqualFold(got, want) {
		return "", "", badContent(fmt.Sprintf("%s: SHA-256 %s, not the %s given: nothing was kept", redactURL(u), got, want))
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return "", "", err
	}
	return dst, got, nil
}

// checkBypassPackage applies the overlay's policy to one file.
func (a *RepoActivities) checkBypassPackage(ctx context.Context, rc config.Repo, file string, allowDowngrade bool) (StagedRPM, error) {
	info, err := repo.InspectRPM(ctx, file)
	if err != nil {
		return StagedRPM{}, classify(err)
	}
	allowed := slices.ContainsFunc(rc.Bypass.Allow, func(pat string) bool { ok, _ := path.Match(pat, info.Name); return ok })
	if !allowed {
		return StagedRPM{}, invalid(fmt.Sprintf("%s: package %s is not allowed in overlay %s (bypass.allow: %s)",
			filepath.Base(file), info.Name, rc.Name, strings.Join(rc.Bypass.Allow, ", ")))
	}
	if rc.RequiresSignature() {
		if err := repo.CheckRPMSignature(ctx, file, rc.GPGKey); err != nil {
			return StagedRPM{}, classify(err)
		}
	}
	staged := StagedRPM{Path: file, NEVRA: info.NEVRA}
	var newest *repo.Package // of what the channels serve: what the bypass replaces
	for _, ch := range []string{a.Config.Channels.Testing, a.Config.Channels.Production} {
		rel, err := a.Store.Channel(ch)
		if err != nil || rel == "" {
			if err != nil {
				return StagedRPM{}, classify(err)
			}
			continue
		}
		have, err := a.Store.Newest(rel, info.Name, info.Arch)
		if err != nil {
			return StagedRPM{}, classify(err)
		}
		if have == nil {
			continue
		}
		cmp := rpmmd.CompareEVR(info.Epoch, info.Version, info.Release, have.Epoch, have.Version, have.Release)
		if cmp < 0 && !allowDowngrade {
			return StagedRPM{}, invalid(fmt.Sprintf("%s is older than %s, which %s serves: a downgrade (--allow-downgrade to force it)",
				info.NEVRA, have.NEVRA(), ch))
		}
		if newest == nil || rpmmd.CompareEVR(have.Epoch, have.Version, have.Release, newest.Epoch, newest.Version, newest.Release) > 0 {
			newest = have
		}
	}
	if newest != nil {
		staged.Replaces = newest.NEVRA()
	}
	return staged, nil
}

// ApplyBypass adds the staged packages to the overlay (for the next daily
// sync), snapshots the overlay under its lock to take the packages into
// the pool, and through the store's ApplyBypass puts those packages, and
// nothing else of the overlay, on each channel in order: planned once and
// keyed, so a retry after any partial attempt completes the same plan.
func (a *RepoActivities) ApplyBypass(ctx context.Context, in ApplyBypassInput) (BypassResult, error) {
	rc, ok := a.Config.Repo(in.Overlay)
	if !ok || !rc.Overlay {
		return BypassResult{}, invalid(fmt.Sprintf("Overlay: %q is not an overlay in %s", in.Overlay, a.Config.Path))
	}
	if err := checkApplyBypass(in); err != nil {
		return BypassResult{}, err
	}
	defer a.keepAlive(ctx)()
	var files, nevras []string
	for i, f := range in.Files {
		digest, err := fileDigest(f.Path)
		if err != nil {
			return BypassResult{}, invalid(fmt.Sprintf("Files[%d].Path: %s: the staged file is gone (%v): stage the bypass again", i, f.Path, err))
		}
		if !strings.EqualFold(digest, f.SHA256) {
			return BypassResult{}, badContent(fmt.Sprintf("Files[%d].Path: %s: SHA-256 %s, not the %s checked when it was staged", i, f.Path, digest, f.SHA256))
		}
		files, nevras = append(files, f.Path), append(nevras, f.NEVRA)
	}
	if _, err := a.Store.OverlayAdd(ctx, in.Overlay, files); err != nil {
		return BypassResult{}, classify(err)
	}
	var snap RepoSync
	err := a.Store.WithOverlay(ctx, in.Overlay, func(dir string) (err error) {
		snap, err = a.syncRepo(ctx, SyncRepoInput{Repo: in.Overlay}, rc, dir)
		return err
	})
	if err != nil {
		return BypassResult{}, err
	}
	rec, err := a.Store.ApplyBypass(ctx, repo.BypassRequest{
		Overlay: in.Overlay, Snapshot: snap.Snapshot, Channels: in.Channels, Bypass: in.Bypass,
		Key: opKey(ctx, in.Key), Actor: in.Actor, Reason: in.Reason, Packages: nevras, Signed: in.Signed,
	})
	if err != nil {
		return BypassResult{}, classify(err)
	}
	res := BypassResult{Snapshot: rec.Snapshot}
	for _, sw := range rec.Switches {
		res.Switches = append(res.Switches, channelSwitch(sw))
	}
	return res, nil
}

// Visible checks with real dnf, plugins off, that a channel's overlay
// repo offers the packages, as a node refreshing its metadata would see
// them there. Only the overlay: the mirrors beside it did not change, and
// loading their metadata (tens of MB for EPEL) would make an emergency
// wait on them.
func (a *TestActivities) Visible(ctx context.Context, in VisibleInput) error {
	t := ci.Target{Channel: in.Channel, BaseURL: strings.TrimSuffix(a.Config.HTTP.BaseURL, "/") + "/" + in.Channel + "/"}
	for _, r := range a.Config.Repos {
		if in.Overlay == "" || r.Name == in.Overlay {
			t.Repos = append(t.Repos, r.Name)
		}
	}
	defer heartbeatEvery(ctx, 10*time.Second, nil)()
	missing, err := ci.Available(ctx, t, in.NEVRAs)
	if err != nil {
		return fmt.Errorf("check %s with dnf: %w", in.Channel, err)
	}
	if len(missing) > 0 {
		// Retried: an HTTP front end may serve the channel from a cache
		// that has not seen the switch yet.
		return fmt.Errorf("dnf does not see %s on %s (%s)", strings.Join(missing, ", "), in.Channel, t.BaseURL)
	}
	return nil
}

func fileDigest(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func badContent(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeBadContent, nil)
}

// redactURL drops credentials and the query from a URL for messages.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(an unparsable URL)"
	}
	p.User, p.RawQuery = nil, ""
	return p.String()
}
