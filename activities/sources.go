package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/mirror"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// SourceActivities watch the vendor sources of overlay repos
// (repos[].sources): they find new versions, verify and stage them under
// STORE/tmp/sources/<overlay>/, and add them to the overlay. They run
// where the store is mounted, on the repo task queue.
type SourceActivities struct {
	Store  *repo.Store
	Config *config.Config
	// Client has timeouts (the mirror's transport); each source reads
	// through a copy whose redirects stay on the source's origin.
	Client *http.Client
	// HeartbeatEvery bounds the silence between heartbeats; default 10s.
	HeartbeatEvery time.Duration
}

// NewSourceActivities builds the source activities of a repo worker, on
// the transport the mirror uses.
func NewSourceActivities(st *repo.Store, cfg *config.Config, logger *zap.Logger) *SourceActivities {
	return &SourceActivities{Store: st, Config: cfg, Client: NewMirror(st, cfg, logger).Client}
}

// WatchPlanInput names the overlay whose sources a watch checks.
type WatchPlanInput struct {
	Overlay string
}

// WatchPlan is what the configuration says an overlay watch covers.
type WatchPlan struct {
	Overlay       string
	RepoTaskQueue string
	Sources       []WatchSource
	// A check's downloads are bounded like a repo sync's.
	Timeout          time.Duration
	HeartbeatTimeout time.Duration
	MaxAttempts      int32
}

// WatchSource is one configured source, by its URL.
type WatchSource struct {
	URL string
	// Bypass: a new version from it starts an emergency bypass.
	Bypass bool
}

// CheckSourceInput checks one source of an overlay.
type CheckSourceInput struct {
	Overlay string
	Source  string // the source's URL, as configured
}

// StagedPackage is a new version found, verified and staged on the store
// host, ready for the overlay or a bypass.
type StagedPackage struct {
	Source string // the configured source URL
	URL    string // the file's URL
	File   string // absolute path of the staged copy
	NEVRA  string
	Name   string
	Arch   string
	SHA256 string
	Size   int64
	// Replaces is the overlay's newest of Name at the check; "" if none.
	Replaces string
	// The response's validators, kept in the source journal.
	ETag         string
	LastModified string
}

// SourceCheck is what one check of a source found. It is bounded: at
// most maxSourceDownloads new versions (the rest wait for the next check,
// counted in More) and maxSourceNotes reasons.
type SourceCheck struct {
	Source  string
	Offered int // files or packages the source offers that match include
	New     []StagedPackage
	Skipped int
	Notes   []string // why files were left, the first maxSourceNotes
	More    int
	// Refused lists the files that failed verification, with why; none
	// of their bytes were kept.
	Refused []string
}

// AddStagedInput adds staged packages to their overlay.
type AddStagedInput struct {
	Overlay  string
	Packages []StagedPackage
	Key      string
}

// AddStagedResult is what the overlay holds now of the packages.
type AddStagedResult struct {
	Added []string // NEVRAs
}

// RecordBypassInput records in the source journal that a bypass is started
// with packages (or, with Error, that it could not be).
type RecordBypassInput struct {
	Overlay  string
	Packages []StagedPackage
	Bypass   string // the bypass's workflow ID
	Error    string
	Key      string
}

// WatchPlan lists an overlay's sources and the bounds of their checks.
func (a *ConfigActivities) WatchPlan(_ context.Context, in WatchPlanInput) (WatchPlan, error) {
	c := a.Config
	r, ok := c.Repo(in.Overlay)
	if !ok || !r.Overlay {
		return WatchPlan{}, invalid(fmt.Sprintf("no overlay repo %q in the worker's configuration %s", in.Overlay, c.Path))
	}
	p := WatchPlan{
		Overlay:          r.Name,
		RepoTaskQueue:    c.Temporal.RepoTaskQueue,
		Timeout:          c.Sync.Timeout.Duration,
		HeartbeatTimeout: c.Sync.HeartbeatTimeout.Duration,
		MaxAttempts:      min(int32(c.Sync.MaxAttempts), maxCheckAttempts),
	}
	for _, s := range r.Sources {
		p.Sources = append(p.Sources, WatchSource{URL: s.URL, Bypass: s.AutoBypass()})
	}
	return p, nil
}

// sourceProgress is the heartbeat of a check: the packages staged so far,
// which a retry takes over without downloading them again.
type sourceProgress struct {
	Source string
	Stage  string
	Done   int
	Total  int
	Staged []StagedPackage
}

func (p *sourceProgress) staged(u string) (StagedPackage, bool) {
	for _, s := range p.Staged {
		if s.URL == u {
			return s, true
		}
	}
	return StagedPackage{}, false
}

// CheckSource checks one source of an overlay for versions newer than the
// overlay's and stages them. Nothing is kept that did not pass the
// source's checksum file and signature checks (and the overlay's own key
// when it requires signatures) and rpm's reading; such a file is Refused.
// A check retried after its worker died resumes with what it staged.
// Transport errors are retried; a source that cannot be read at all (a
// malformed listing, a redirect to another host) is bad content, not
// retried.
func (a *SourceActivities) CheckSource(ctx context.Context, in CheckSourceInput) (SourceCheck, error) {
	w, err := a.watch(ctx, in)
	if err != nil {
		return SourceCheck{}, a.sourceError(ctx, in, err)
	}

	var prior sourceProgress
	if activity.HasHeartbeatDetails(ctx) {
		// Undecodable details (an older worker's) only cost downloads.
		_ = activity.GetHeartbeatDetails(ctx, &prior)
	}
	var mu sync.Mutex
	prog := sourceProgress{Source: in.Source, Stage: "listing"}
	for _, s := range prior.Staged {
		if _, err := os.Stat(s.File); err == nil && w.staging(s.File) {
			prog.Staged = append(prog.Staged, s)
		}
	}
	every := a.HeartbeatEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	stop := heartbeatEvery(ctx, every, func() any { mu.Lock(); defer mu.Unlock(); return prog })
	defer stop()
	beat := func(change func(p *sourceProgress)) {
		mu.Lock()
		change(&prog)
		p := prog
		p.Staged = slices.Clone(prog.Staged)
		mu.Unlock()
		activity.RecordHeartbeat(ctx, p)
	}
	beat(func(*sourceProgress) {})

	files, err := w.offered(ctx)
	if err != nil {
		return SourceCheck{}, a.sourceError(ctx, in, err)
	}
	plan, err := planSource(files, w.newest, w.sums, w.journal, w.src.ChecksumURL, w.src.Kind == config.SourceRPM)
	if err != nil {
		return SourceCheck{}, a.sourceError(ctx, in, err)
	}
	check := SourceCheck{Source: in.Source, Offered: len(files), Skipped: plan.Skipped, Notes: plan.Notes, More: plan.More}
	beat(func(p *sourceProgress) { p.Stage, p.Total = "downloading", len(plan.Fetch) })
	for _, step := range plan.Fetch {
		mu.Lock()
		done, ok := prog.staged(step.File.URL)
		mu.Unlock()
		if ok {
			check.New = append(check.New, done)
			beat(func(p *sourceProgress) { p.Done++ })
			continue
		}
		pkg, note, err := w.take(ctx, step)
		switch {
		case errors.Is(err, repo.ErrBadContent):
			check.refuse(fmt.Sprintf("%s (%s): %v", step.File.File, step.File.URL, err))
		case err != nil:
			w.recordSeen(ctx)
			return SourceCheck{}, a.sourceError(ctx, in, fmt.Errorf("%s: %w", step.File.File, err))
		case pkg == nil:
			check.skip(note)
		default:
			check.New = append(check.New, *pkg)
			activity.GetLogger(ctx).Info("new version staged", "overlay", in.Overlay, "source", in.Source, "nevra", pkg.NEVRA, "file", pkg.File)
			beat(func(p *sourceProgress) { p.Staged = append(p.Staged, *pkg) })
		}
		beat(func(p *sourceProgress) { p.Done++ })
	}
	check.keepNewest()
	if err := w.recordSeen(ctx); err != nil {
		return SourceCheck{}, classify(err)
	}
	return check, nil
}

func (c *SourceCheck) skip(note string) {
	c.Skipped++
	if len(c.Notes) < maxSourceNotes {
		c.Notes = append(c.Notes, note)
	}
}

func (c *SourceCheck) refuse(why string) {
	if len(c.Refused) < maxSourceNotes {
		c.Refused = append(c.Refused, why)
	} else if len(c.Refused) == maxSourceNotes {
		c.Refused = append(c.Refused, "(more files refused)")
	}
}

// keepNewest keeps one package of each name and arch, the newest: a
// source whose file names did not tell may have brought several.
func (c *SourceCheck) keepNewest() {
	best := map[[2]string]int{}
	var keep []StagedPackage
	for _, p := range c.New {
		k := [2]string{p.Name, p.Arch}
		i, ok := best[k]
		if !ok {
			best[k] = len(keep)
			keep = append(keep, p)
			continue
		}
		n, _ := parseNEVRA(p.NEVRA)
		o, _ := parseNEVRA(keep[i].NEVRA)
		if n.compare(o) > 0 {
			p, keep[i] = keep[i], p
		}
		c.skip(fmt.Sprintf("%s: %s is newer", path.Base(p.URL), keep[i].NEVRA))
		os.Remove(p.File)
	}
	slices.SortFunc(keep, func(a, b StagedPackage) int { return strings.Compare(a.NEVRA, b.NEVRA) })
	c.New = keep
}

// sourceError names the source in front of err and classifies it: bad
// content and bad configuration are not retried, transport errors are.
func (a *SourceActivities) sourceError(ctx context.Context, in CheckSourceInput, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return err
	}
	err = fmt.Errorf("overlay %s, source %s: %w", in.Overlay, in.Source, err)
	if errors.Is(err, repo.ErrBadContent) {
		return temporal.NewNonRetryableApplicationError(err.Error()+" (not retried: nothing from it was kept; the next check reads it again)",
			ErrTypeBadContent, err)
	}
	// A vendor is no mirror caught mid-sync: 404, 410 and the other 4xx
	// but 408 and 429 are its answer, and retrying them for an hour only
	// holds back what the other sources found.
	var se *mirror.StatusError
	if errors.As(err, &se) && permanentStatus(se.Code) {
		return temporal.NewNonRetryableApplicationError(err.Error()+" (not retried: a permanent answer; the next check asks again)",
			ErrTypeSourceUnavailable, err)
	}
	return classify(err)
}

// permanentStatus says whether an HTTP status from a vendor will be the
// same on a retry: every 4xx but 408 (timeout) and 429 (rate limit).
func permanentStatus(code int) bool {
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}

// maxCheckAttempts bounds the attempts of one source check within a
// watch: the next scheduled watch checks again, and while a check is
// retried the watch holds what the other sources found (a bypass: auto
// fix among them).
const maxCheckAttempts = 3

// sourceWatch is one check of one source.
type sourceWatch struct {
	a       *SourceActivities
	overlay config.Repo
	src     config.Source
	dir     string // STORE/tmp/sources/<overlay>
	fetch   *sourceFetcher
	newest  map[string]nevra
	journal journalIndex
	sums    map[string]string
	ascKeys openpgp.EntityList // made when first needed
	seen    []repo.SourceEntry
}

// stagedMaxAge is how long a staged file may wait for its overlay or
// bypass before a check removes it.
const stagedMaxAge = 24 * time.Hour

func (a *SourceActivities) watch(ctx context.Context, in CheckSourceInput) (*sourceWatch, error) {
	rc, ok := a.Config.Repo(in.Overlay)
	if !ok || !rc.Overlay {
		return nil, fmt.Errorf("no overlay repo %q in the worker's configuration %s: %w", in.Overlay, a.Config.Path, repo.ErrInvalid)
	}
	src, ok := rc.Source(in.Source)
	if !ok {
		return nil, fmt.Errorf("overlay %s has no source %s in the worker's configuration %s: %w", in.Overlay, in.Source, a.Config.Path, repo.ErrInvalid)
	}
	w := &sourceWatch{a: a, overlay: rc, src: src, dir: sourceStaging(a.Store, in.Overlay)}
	if err := w.prepareDir(); err != nil {
		return nil, err
	}
	var err error
	if w.fetch, err = newSourceFetcher(a.Client, src.URL, a.Config.Sync.MinSpeed); err != nil {
		return nil, err
	}
	rpms, err := a.Store.OverlayList(in.Overlay)
	if err != nil {
		return nil, err
	}
	// The overlay's file names leave the epoch out; rpm says it.
	files := make([]string, len(rpms))
	for i, r := range rpms {
		files[i] = r.File
	}
	infos, err := repo.InspectRPMs(ctx, files)
	if err != nil {
		return nil, fmt.Errorf("read overlay %s: %w", in.Overlay, err)
	}
	w.newest = overlayNewest(infos)
	log, err := a.Store.SourceLog(in.Overlay)
	if err != nil {
		return nil, err
	}
	w.journal = indexJournal(log)
	return w, nil
}

// sourceStaging is where an overlay's new versions wait.
func sourceStaging(st *repo.Store, overlay string) string {
	return filepath.Join(st.TempDir(), "sources", overlay)
}

// prepareDir creates the staging directory, marks it (and tmp/sources,
// which the store's garbage collection judges by its time) as in use, and
// removes what waited there longer than stagedMaxAge.
func (w *sourceWatch) prepareDir() error {
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return err
	}
	now := time.Now()
	for _, d := range []string{filepath.Dir(w.dir), w.dir} {
		if err := os.Chtimes(d, now, now); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > stagedMaxAge {
			os.RemoveAll(filepath.Join(w.dir, e.Name()))
		}
	}
	return nil
}

// staging reports whether file is a staged file of this overlay.
func (w *sourceWatch) staging(file string) bool {
	rel, err := filepath.Rel(w.dir, file)
	return err == nil && filepath.IsLocal(rel)
}

// offered lists the files the source offers that match its include
// patterns, and reads its checksum file.
func (w *sourceWatch) offered(ctx context.Context) ([]sourceFile, error) {
	var files []sourceFile
	switch w.src.Kind {
	case config.SourceRPM:
		u, err := url.Parse(w.src.URL)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", repo.ErrInvalid, err)
		}
		f := sourceFile{URL: w.src.URL, File: path.Base(u.Path)}
		f.Pkg, f.Known = parseFileName(f.File)
		files = append(files, f)
	case config.SourceListing:
		page, err := w.fetch.small(ctx, w.src.URL, "directory listing", maxListingBytes)
		if err != nil {
			return nil, err
		}
		links, err := w.fetch.listingLinks(page)
		if err != nil {
			return nil, err
		}
		for file, u := range links {
			if matchAny(w.src.Include, file) {
				f := sourceFile{URL: u, File: file}
				f.Pkg, f.Known = parseFileName(file)
				files = append(files, f)
			}
		}
	case config.SourceRPMMD:
		err := w.fetch.rpmmdPackages(ctx, w.dir, func(p rpmmd.Package) error {
			if !matchAny(w.src.Include, p.Name) {
				return nil
			}
			u, ok := w.fetch.resolve(escapePath(p.Href))
			if !ok {
				return fmt.Errorf("%w: package href %q leaves the repo", rpmmd.ErrMalformed, p.Href)
			}
			f := sourceFile{URL: u.String(), File: path.Base(p.Href), Known: true, Checksum: p.Checksum, Size: p.Size,
				Pkg: nevra{Name: p.Name, Epoch: p.Epoch, Version: p.Version, Release: p.Release, Arch: p.Arch}}
			if p.Checksum.Algo == "sha256" {
				f.SHA256 = p.Checksum.Hex
			}
			files = append(files, f)
			return nil
		})
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("source kind %q: %w", w.src.Kind, repo.ErrInvalid)
	}
	if w.src.ChecksumURL != "" {
		data, err := w.fetch.small(ctx, w.src.ChecksumURL, "checksum file", maxChecksumBytes)
		if err != nil {
			return nil, err
		}
		if w.sums, err = parseChecksums(w.src.ChecksumURL, data); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// escapePath makes a checked href (no %, ?, #) a relative URL reference.
func escapePath(href string) string {
	return (&url.URL{Path: href}).EscapedPath()
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// take downloads one file (or finds the copy an earlier attempt staged),
// verifies it and stages it if it is newer than the overlay's newest of
// its name. A file that is not newer, or whose build a bypass was started
// with, is no package (with a note why). Verification failures wrap
// repo.ErrBadContent; the download is deleted.
func (w *sourceWatch) take(ctx context.Context, step sourceStep) (*StagedPackage, string, error) {
	f := step.File
	if file, d, ok := w.stagedCopy(f.SHA256); ok {
		return w.accept(ctx, f, file, d)
	}
	tmp, err := os.CreateTemp(w.dir, ".download-*.rpm")
	if err != nil {
		return nil, "", err
	}
	defer os.Remove(tmp.Name()) // a no-op once staged
	defer tmp.Close()
	var other hash.Hash
	if f.Checksum.Algo != "" {
		if other, err = rpmmd.NewHash(f.Checksum.Algo); err != nil {
			return nil, "", fmt.Errorf("%w: %w", repo.ErrBadContent, err)
		}
	}
	limit := int64(maxSourceRPM)
	if f.Size > 0 {
		limit = f.Size
	}
	d, err := w.fetch.download(ctx, f.URL, step.Cond, tmp, limit, other)
	if err != nil {
		return nil, "", err
	}
	if d.NotModified {
		return nil, fmt.Sprintf("%s: unchanged since it was seen as %s, not newer than the overlay's", f.File, step.Seen), nil
	}
	if err := tmp.Close(); err != nil {
		return nil, "", err
	}
	switch {
	case f.Checksum.Hex != "" && d.Other != f.Checksum.Hex:
		return nil, "", fmt.Errorf("%w: %s checksum mismatch: the repo's primary.xml says %s, the download has %s",
			repo.ErrBadContent, f.Checksum.Algo, f.Checksum.Hex, d.Other)
	case f.Size > 0 && d.Size != f.Size:
		return nil, "", fmt.Errorf("%w: size mismatch: the repo's primary.xml says %d bytes, the download has %d", repo.ErrBadContent, f.Size, d.Size)
	case w.sums != nil && w.sums[f.File] != d.SHA256:
		return nil, "", fmt.Errorf("%w: sha256 checksum mismatch: %s says %s, the download has %s",
			repo.ErrBadContent, w.src.ChecksumURL, w.sums[f.File], d.SHA256)
	}
	return w.accept(ctx, f, tmp.Name(), d)
}

// stagedCopy finds the copy of a build (by its sha256) that an earlier
// attempt or check staged, with the validators it was served with: a
// retried check never downloads it again.
func (w *sourceWatch) stagedCopy(sha string) (string, download, bool) {
	d := download{SHA256: sha}
	if sha == "" {
		return "", d, false
	}
	found, _ := filepath.Glob(filepath.Join(w.dir, sha, "*.rpm"))
	if len(found) != 1 {
		return "", d, false
	}
	got, err := fileDigest(found[0])
	info, serr := os.Stat(found[0])
	if err != nil || serr != nil || got != sha {
		return "", d, false
	}
	d.Size = info.Size()
	if b, err := os.ReadFile(filepath.Join(w.dir, sha, validatorsFile)); err == nil {
		_ = json.Unmarshal(b, &d.validators)
	}
	return found[0], d, true
}

// validatorsFile keeps, next to a staged copy, the validators it was
// served with.
const validatorsFile = "validators.json"

// accept reads file with rpm, checks its signatures and, when it is newer
// than the overlay's, stages it as <sha256>/<NEVRA>.rpm.
func (w *sourceWatch) accept(ctx context.Context, f sourceFile, file string, d download) (*StagedPackage, string, error) {
	info, err := repo.InspectRPM(ctx, file)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		return nil, "", fmt.Errorf("%w: not an RPM: %w", repo.ErrBadContent, err)
	}
	if err := w.verifySignatures(ctx, f, file); err != nil {
		return nil, "", err
	}
	n := nevra{Name: info.Name, Epoch: info.Epoch, Version: info.Version, Release: info.Release, Arch: info.Arch}
	dir := filepath.Join(w.dir, d.SHA256)
	if o, ok := w.newest[n.Name]; ok && n.compare(o) <= 0 {
		os.RemoveAll(dir) // a copy staged before the overlay got o
		w.seen = append(w.seen, repo.SourceEntry{Action: repo.SourceSeen, Source: w.src.URL, URL: f.URL, SHA256: d.SHA256,
			NEVRA: info.NEVRA, Size: d.Size, ETag: d.ETag, LastModified: d.LastModified})
		return nil, fmt.Sprintf("%s: %s is not newer than %s in the overlay", f.File, n, o), nil
	}
	if id, ok := w.journal.bypassed(d.SHA256); ok {
		return nil, fmt.Sprintf("%s: bypass %s was started with %s", f.File, id, n), nil
	}
	dst := filepath.Join(dir, info.NEVRA+".rpm")
	if file != dst {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, "", err
		}
		if b, err := json.Marshal(d.validators); err == nil {
			if err := os.WriteFile(filepath.Join(dir, validatorsFile), b, 0o644); err != nil {
				return nil, "", err
			}
		}
		if err := os.Chmod(file, 0o644); err != nil {
			return nil, "", err
		}
		if err := os.Rename(file, dst); err != nil {
			return nil, "", err
		}
	}
	pkg := &StagedPackage{Source: w.src.URL, URL: f.URL, File: dst, NEVRA: info.NEVRA, Name: n.Name, Arch: n.Arch,
		SHA256: d.SHA256, Size: d.Size, ETag: d.ETag, LastModified: d.LastModified}
	if o, ok := w.newest[n.Name]; ok {
		pkg.Replaces = o.String()
	}
	return pkg, "", nil
}

// verifySignatures checks file's signature by the source's key, and by the
// overlay's key when the overlay requires signatures (a bypass would
// refuse the package otherwise).
func (w *sourceWatch) verifySignatures(ctx context.Context, f sourceFile, file string) error {
	switch {
	case w.src.GPGKey == "":
	case w.src.Signature == config.SignatureASC:
		if w.ascKeys == nil {
			keys, err := readKeyring(w.src.GPGKey)
			if err != nil {
				return err
			}
			w.ascKeys = keys
		}
		sig, err := w.fetch.small(ctx, f.URL+".asc", "detached signature", maxASCBytes)
		var se *mirror.StatusError
		if errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusGone) {
			return fmt.Errorf("%w: no detached signature %s.asc", repo.ErrBadContent, f.File)
		}
		if err != nil {
			return err
		}
		if err := checkDetached(w.ascKeys, w.src.GPGKey, file, sig); err != nil {
			return err
		}
	default:
		if err := repo.CheckRPMSignature(ctx, file, w.src.GPGKey); err != nil {
			return err
		}
	}
	if !w.overlay.RequiresSignature() {
		return nil
	}
	if err := repo.CheckRPMSignature(ctx, file, w.overlay.GPGKey); err != nil {
		return fmt.Errorf("overlay %s requires RPMs signed by its gpgKey: %w", w.overlay.Name, err)
	}
	return nil
}

// recordSeen keeps, in the overlay's source journal, the files this check
// downloaded and found no newer, so that the next check asks for them
// conditionally or not at all.
func (w *sourceWatch) recordSeen(ctx context.Context) error {
	if len(w.seen) == 0 {
		return nil
	}
	err := w.a.Store.RecordSources(ctx, w.overlay.Name, w.seen)
	if err == nil {
		w.seen = nil
	}
	return err
}

// recordedKey returns the journal entries an operation wrote.
func (a *SourceActivities) recordedKey(overlay, key string) ([]repo.SourceEntry, error) {
	log, err := a.Store.SourceLog(overlay)
	if err != nil {
		return nil, err
	}
	var done []repo.SourceEntry
	for _, e := range log {
		if e.Key == key {
			done = append(done, e)
		}
	}
	return done, nil
}

// AddStaged adds staged packages to their overlay, for the next daily
// sync, and records them in the overlay's source journal under the
// operation's key: a retry after a lost completion returns what the first
// attempt added. The staged copies are removed once added.
func (a *SourceActivities) AddStaged(ctx context.Context, in AddStagedInput) (AddStagedResult, error) {
	if activity.IsActivity(ctx) {
		defer heartbeatEvery(ctx, 5*time.Second, nil)()
	}
	if in.Key == "" {
		return AddStagedResult{}, invalid("AddStaged needs an operation key")
	}
	done, err := a.recordedKey(in.Overlay, in.Key)
	if err != nil {
		return AddStagedResult{}, classify(err)
	}
	if len(done) > 0 {
		var res AddStagedResult
		for _, e := range done {
			res.Added = append(res.Added, e.NEVRA)
		}
		return res, nil
	}
	dir := sourceStaging(a.Store, in.Overlay)
	files := make([]string, len(in.Packages))
	for i, p := range in.Packages {
		if rel, err := filepath.Rel(dir, p.File); err != nil || !filepath.IsLocal(rel) {
			return AddStagedResult{}, invalid(fmt.Sprintf("%s is not a staged file of overlay %s (under %s)", p.File, in.Overlay, dir))
		}
		files[i] = p.File
	}
	nevras, err := a.Store.OverlayAdd(ctx, in.Overlay, files)
	if err != nil {
		return AddStagedResult{}, classify(err)
	}
	entries := make([]repo.SourceEntry, len(in.Packages))
	for i, p := range in.Packages {
		entries[i] = repo.SourceEntry{Action: repo.SourceAdded, Source: p.Source, URL: p.URL, SHA256: p.SHA256, NEVRA: nevras[i],
			Size: p.Size, ETag: p.ETag, LastModified: p.LastModified, Key: in.Key}
	}
	if err := a.Store.RecordSources(ctx, in.Overlay, entries); err != nil {
		return AddStagedResult{}, classify(err)
	}
	for _, f := range files {
		os.RemoveAll(filepath.Dir(f))
	}
	return AddStagedResult{Added: nevras}, nil
}

// RecordBypass records in the overlay's source journal that a bypass is
// started with packages, before it is: no later check starts another one
// with the same build. With Error, it records that the start failed, and
// the packages are new again for the next check. Keyed: a retry records
// nothing twice.
func (a *SourceActivities) RecordBypass(ctx context.Context, in RecordBypassInput) error {
	if activity.IsActivity(ctx) {
		defer heartbeatEvery(ctx, 5*time.Second, nil)()
	}
	if in.Key == "" {
		return invalid("RecordBypass needs an operation key")
	}
	done, err := a.recordedKey(in.Overlay, in.Key)
	if err != nil || len(done) > 0 {
		return classify(err)
	}
	action := repo.SourceBypass
	if in.Error != "" {
		action = repo.SourceBypassFailed
	}
	entries := make([]repo.SourceEntry, len(in.Packages))
	for i, p := range in.Packages {
		entries[i] = repo.SourceEntry{Action: action, Source: p.Source, URL: p.URL, SHA256: p.SHA256, NEVRA: p.NEVRA, Size: p.Size,
			Key: in.Key, Bypass: in.Bypass, Error: in.Error}
	}
	return classify(a.Store.RecordSources(ctx, in.Overlay, entries))
}
