// Package mirror copies one rpm-md repository into the store as a verified,
// immutable snapshot.
//
// A sync runs in stages, each a function testable alone:
//
//  1. pickMirror: from the URL, or the first mirror of a mirrorlist or
//     metalink (mirrors.go) that passes, fetchIndex: repomd.xml, its
//     detached signature when a keyring is configured, verified, and with
//     a metalink the very repomd.xml it describes; checkFresh: refused if
//     older than the index last accepted for the repo (or than its
//     MaxAge). An upstream whose repomd.xml already has a snapshot ends
//     the sync here.
//  2. the files repomd.xml names, planned and fetched into the pool;
//  3. readPrimary: the package list, streamed from primary's pool object,
//     decompressed no further than its declared open size;
//  4. PlanDownloads (planner.step): a pure plan, with a reason for every
//     file, made for each package as soon as it is read;
//  5. download: parallel downloads, fed while primary is still being read,
//     each hashed and size-checked while it streams into a new pool object,
//     and retried on its own through a flapping upstream (retrying); a
//     mirror that still fails gives way to the next one serving the same
//     repomd.xml (fallBack);
//  6. commit: flush the store, then commit the snapshot tree, and record
//     the index as accepted.
//
// Upstream metadata is kept byte for byte. Nothing becomes visible unless
// every checksum from repomd.xml down to each package matched. A sync that
// fails part way keeps what it stored in the pool, so the next one resumes.
// Nothing an upstream says is trusted beyond what the verified metadata
// declares: not a redirect to another host, not a size, not a name.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// DefaultConcurrency is the number of parallel downloads New uses for 0.
const DefaultConcurrency = 16

// Source is one upstream repo to mirror.
type Source struct {
	Repo string // repo name
	// URL is the base URL (the directory holding repodata/): http://,
	// https:// or file://. With a Mirrorlist or Metalink it is optional,
	// and tried before the mirrors they list.
	URL string
	// Mirrorlist is a URL listing base URLs one a line, tried in order.
	Mirrorlist string
	// Metalink is a MirrorManager metalink URL: its mirrors are tried by
	// preference, and the repomd.xml read must be the one it describes.
	// Mirrorlist and Metalink are alternatives.
	Metalink string
	// TLS is the repo's client certificate and CA, as files.
	TLS TLSFiles
	// Proxy is an http(s) forward proxy URL for every request of the repo;
	// it may hold credentials, and is never shown with its password.
	Proxy            string
	Keyring          openpgp.EntityList // nil: no signature check
	RequireSignature bool               // refuse an unsigned repomd.xml (needs Keyring)
	// PublishKey is served as repodata/repomd.xml.key when Keyring is
	// nil: an overlay's RPM key, for clients' gpgcheck.
	PublishKey openpgp.EntityList
	// AllowRedirectHosts are hosts ("host" or "host:port") besides the
	// repo's own that an HTTP redirect may lead to: CDNs the site trusts.
	AllowRedirectHosts []string
	// Kind is KindRPMMD (""), KindTree or KindAuto.
	Kind string
	// MaxAge refuses metadata whose newest timestamp is older than this (a
	// frozen mirror), as apt's Valid-Until does; 0: no limit.
	MaxAge time.Duration
	// AllowOlder accepts, once, a repomd.xml older than the one last
	// accepted (and older than MaxAge); the acceptance is recorded.
	AllowOlder bool
	// Generated marks metadata osflow makes itself (an overlay's, under
	// its lock): no replay to fear, and its revision is a content hash,
	// not a clock, so the freshness checks do not apply.
	Generated bool
	// Prior is what earlier attempts of this same sync fetched; the counts
	// a Sync reports start from it.
	Prior Counts
}

// Progress is reported at every stage change and at most every 250 ms
// within a stage. Totals count what the stage has to do; packages download
// while the package list is read, so in StagePrimary the totals grow, and
// StagePackages carries on with the counts and the final totals. Counts
// run across the stages and the attempts of the sync.
type Progress struct {
	Repo, Stage           string
	FilesDone, FilesTotal int
	BytesDone, BytesTotal int64
	Counts
}

// Result is what one Sync did.
type Result struct {
	Snapshot repo.Snapshot
	// Changed is false when upstream's repomd.xml already had a snapshot.
	Changed bool
	// Counts are the metadata files and packages fetched into the pool,
	// by this sync and the earlier attempts of it (repomd.xml and its
	// signature are fetched on every sync and not counted).
	Counts
	// Reused counts the files the pool already held.
	Reused int
	// Mirror is the base URL read (without a password) when it was chosen
	// from a mirrorlist or metalink; Refused are the mirrors tried before
	// it, and why each was refused.
	Mirror  string
	Refused []Refusal
}

// Mirror syncs upstream repos into a store. One Mirror may run many syncs
// at once; Downloads bounds their downloads together.
type Mirror struct {
	Store       *repo.Store
	Client      *http.Client // must have timeouts; New builds one
	Concurrency int          // parallel downloads of one sync; 0: DefaultConcurrency
	Limits      rpmmd.Limits // zero: rpmmd.DefaultLimits()
	MinSpeed    MinSpeed     // zero: DefaultMinSpeed
	Retry       RetryPolicy  // zero fields: DefaultRetryPolicy's
	Downloads   *Limit       // downloads at once across all syncs; nil: no limit
	Logger      *zap.Logger  // may be nil

	now func() time.Time // tests
}

// New returns a Mirror into store with concurrency parallel downloads
// (0: DefaultConcurrency) and an HTTP client with timeouts.
func New(store *repo.Store, concurrency int, logger *zap.Logger) *Mirror {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	return &Mirror{
		Store:       store,
		Client:      newClient(concurrency),
		Concurrency: concurrency,
		Limits:      rpmmd.DefaultLimits(),
		Logger:      logger,
	}
}

// Sync brings src's current state into the store as a snapshot, or finds
// the snapshot it already has. progress may be nil. Errors name the repo and
// the URL or href at fault; see IsRetryable for how they are classified.
func (m *Mirror) Sync(ctx context.Context, src Source, progress func(Progress)) (Result, error) {
	res, err := m.sync(ctx, src, progress)
	if err != nil {
		return Result{}, &SyncError{Repo: src.Repo, URL: redactURL(src.where()), Err: err}
	}
	return res, nil
}

// where is the URL that names src: its base URL, else its list's.
func (src Source) where() string {
	for _, u := range []string{src.URL, src.Metalink, src.Mirrorlist} {
		if u != "" {
			return u
		}
	}
	return ""
}

// SyncError is how a Sync fails: the repo, its URL (without a password),
// and the cause, which names the file or URL at fault once.
type SyncError struct {
	Repo, URL string
	Err       error
}

func (e *SyncError) Error() string { return fmt.Sprintf("mirror %s: %v", e.Repo, e.Err) }
func (e *SyncError) Unwrap() error { return e.Err }

// syncRun is the state of one Sync.
type syncRun struct {
	m      *Mirror
	src    Source
	f      *fetcher
	lim    rpmmd.Limits
	log    *zap.Logger
	prog   *reporter
	retry  RetryPolicy
	budget *budget
	// refused are the mirrors tried before the one f reads; spare are
	// those after it.
	refused []Refusal
	spare   spareMirrors
}

func (m *Mirror) sync(ctx context.Context, src Source, progress func(Progress)) (Result, error) {
	if err := repo.CheckRepoName(src.Repo); err != nil {
		return Result{}, err
	}
	if src.RequireSignature && src.Keyring == nil {
		return Result{}, fmt.Errorf("%w: signature required but no keyring configured", repo.ErrInvalid)
	}
	if src.Mirrorlist != "" && src.Metalink != "" {
		return Result{}, fmt.Errorf("%w: mirrorlist and metalink are alternatives", repo.ErrInvalid)
	}
	client, done, err := m.client(src)
	if err != nil {
		return Result{}, err
	}
	defer done()
	log := m.logger().With(zap.String("repo", src.Repo), zap.String("url", redactURL(src.where())))
	if src.Proxy != "" {
		log = log.With(zap.String("proxy", redactURL(src.Proxy)))
	}
	r := &syncRun{
		m: m, src: src, lim: m.limits(), log: log,
		prog:  newReporter(src.Repo, progress, m.clock()),
		retry: m.Retry.withDefaults(),
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, dl.Add(-timeReserve(time.Until(dl))), ErrSyncTimeout)
		defer cancel()
	}
	r.budget = newBudget(r.retry.Budget, src.Prior.Retries)
	r.prog.resume(src.Prior)
	defer func() {
		if r.f != nil {
			r.f.Close()
		}
	}()
	res, err := r.sync(ctx, client)
	if err != nil {
		r.prog.flush()
	}
	return res, err
}

func (r *syncRun) sync(ctx context.Context, client *http.Client) (Result, error) {
	switch r.src.Kind {
	case "", KindRPMMD:
	case KindTree, KindAuto:
		if r.src.URL == "" {
			return Result{}, fmt.Errorf("%w: a distribution tree is read from its url, not from a mirrorlist or metalink", repo.ErrInvalid)
		}
		if err := r.useBase(client, r.src.URL, r.src.AllowRedirectHosts); err != nil {
			return Result{}, err
		}
		r.prog.stage(StageRepomd, 1, 0)
		raw, found, err := r.fetchTreeinfo(ctx)
		if err != nil {
			return Result{}, err
		}
		if found {
			return r.syncTree(ctx, raw)
		}
	default:
		return Result{}, fmt.Errorf("%w: kind %q: must be %s, %s or %s", repo.ErrInvalid, r.src.Kind, KindRPMMD, KindTree, KindAuto)
	}
	// 1. the index, from the first mirror whose index passes, and whether
	// it moves forward
	r.prog.stage(StageRepomd, 1, 0)
	cands, err := r.candidates(ctx, client)
	if err != nil {
		return Result{}, err
	}
	ix, err := r.pickMirror(ctx, client, cands)
	if err != nil {
		return Result{}, err
	}
	var mirror string
	if cands.from != "" {
		mirror = r.f.base.Redacted()
	}
	id := ix.snapshotID()
	if res, found, err := r.unchanged(id, ix.Repomd.Revision, ix.newest()); err != nil || found {
		res.Mirror, res.Refused = mirror, r.refused
		return res, err
	}
	if ix.Signature == nil && r.src.Keyring != nil {
		r.log.Warn("upstream repomd.xml is not signed")
	}
	if err := r.fetchKey(ctx, &ix); err != nil {
		return Result{}, err
	}

	// 2.–5. the metadata files, the package list and the packages
	where := r.f.url(repomdPath)
	meta, err := metadataItems(ix.Repomd, r.lim, where)
	if err != nil {
		return Result{}, err
	}
	primary, ok := ix.Repomd.Find("primary")
	if !ok {
		return Result{}, badContentf(where, "%w: no primary metadata", rpmmd.ErrMalformed)
	}
	res := Result{Changed: true, Mirror: mirror}
	pkgs, reused, err := r.fetchFiles(ctx, ix, meta, primary)
	// A mirror that fails to serve a file gives way to the next one that
	// serves the same repomd.xml; what reached the pool stays.
	for err != nil && r.fallBack(ctx, ix, err) {
		pkgs, reused, err = r.fetchFiles(ctx, ix, meta, primary)
	}
	if err != nil {
		return Result{}, err
	}
	res.Reused, res.Refused = reused, r.refused
	if mirror != "" {
		res.Mirror = r.f.base.Redacted()
	}

	// 6. the snapshot
	r.prog.stage(StageCommit, 0, 0)
	if res.Snapshot, err = r.commit(ix, meta, pkgs); err != nil {
		return Result{}, err
	}
	if err := r.accept(ix, res.Snapshot.ID); err != nil {
		return Result{}, err
	}
	r.prog.stage(StageDone, 0, 0)
	res.Counts = r.prog.counts()
	r.log.Info("snapshot committed", zap.String("snapshot", res.Snapshot.ID), zap.Int("downloaded", res.Downloaded),
		zap.Int64("bytes", res.DownloadedBytes), zap.Int("reused", res.Reused), zap.Int("retries", res.Retries))
	return res, nil
}

// unchanged finds snapshot id, which an unchanged upstream has already,
// and records the index (revision rev, newest timestamp newest) as
// accepted; found is false if there is no such snapshot.
func (r *syncRun) unchanged(id, rev string, newest int64) (res Result, found bool, err error) {
	snap, err := r.m.Store.Snapshot(r.src.Repo, id)
	if errors.Is(err, repo.ErrNotFound) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, err
	}
	if err := r.acceptAt(rev, newest, id); err != nil {
		return Result{}, false, err
	}
	r.log.Info("upstream unchanged", zap.String("snapshot", id))
	r.prog.stage(StageDone, 0, 0)
	return Result{Snapshot: snap, Counts: r.prog.counts()}, true, nil
}

// fetchFiles fetches the metadata files of ix (2.), then the package list
// and the packages it names (3.–5.), into the pool. Beside the packages it
// checks the other metadata files' open content (seconds of CPU for a
// large repo's databases): a failure of the check stops the packages at
// once. It returns the packages and how many files the pool held already.
func (r *syncRun) fetchFiles(ctx context.Context, ix index, meta []Item, primary rpmmd.Data) ([]repo.Package, int, error) {
	tree := newTreePaths(repomdPath, signaturePath, keyPath)
	for _, it := range meta {
		if err := tree.add(it.Path); err != nil {
			return nil, 0, badContent(r.f.url(repomdPath), err)
		}
	}
	reused, err := r.fetchStage(ctx, StageMetadata, meta)
	if err != nil {
		return nil, 0, err
	}
	pctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	checked := make(chan error, 1)
	go func() {
		err := r.checkMetadata(pctx, ix.Repomd)
		if err != nil {
			stop(err)
		}
		checked <- err
	}()
	pkgs, more, err := r.packagesStage(pctx, primary, tree)
	if err != nil {
		stop(err)
	}
	if err := checkedFailure(err, <-checked, context.Cause(pctx)); err != nil {
		return nil, 0, err
	}
	return pkgs, reused + more, nil
}

// checkedFailure is how fetchFiles fails when the packages ended with err
// and the metadata check with cerr, cause having stopped both (nil if
// nothing did): the failure that came first. A check that did not pass,
// for whatever reason, never lets the packages' success through.
func checkedFailure(err, cerr, cause error) error {
	switch {
	case cerr == nil:
		return err
	case err == nil, cause == cerr:
		return cerr
	}
	return err
}

// fetchStage plans items against the pool and fetches what it lacks as
// stage. It returns how many items the pool held already.
func (r *syncRun) fetchStage(ctx context.Context, stage string, items []Item) (int, error) {
	plan := PlanDownloads(r.m.Store, items)
	r.budget.need(len(items))
	r.log.Info("plan", zap.String("stage", stage), zap.Int("files", len(items)),
		zap.Int("fetch", len(plan.Fetch)), zap.Int64("bytes", plan.Bytes()))
	r.prog.stage(stage, len(plan.Fetch), plan.Bytes())
	return len(plan.Keep), r.download(ctx, sendAll(plan.Fetch))
}

// packagesStage reads the package list from primary and fetches the
// packages the pool lacks, starting each download as soon as its package
// has been read, checked against the tree so far and planned, so that
// parsing and downloading overlap. While the list is read the stage is
// StagePrimary and its totals grow; StagePackages then finishes the
// downloads. Nothing is committed before the whole list has passed its
// checks. It also returns how many packages the pool held already.
func (r *syncRun) packagesStage(ctx context.Context, primary rpmmd.Data, tree *treePaths) ([]repo.Package, int, error) {
	r.prog.stage(StagePrimary, 0, 0)
	var pkgs []repo.Package
	var fetch, keep int
	var bytes int64
	err := r.download(ctx, func(ctx context.Context, send func(Step) error) error {
		pl := newPlanner(r.m.Store, 0)
		var err error
		pkgs, err = r.readPrimary(ctx, primary, tree, func(p repo.Package) error {
			r.budget.need(1)
			s, get := pl.step(packageItem(p))
			if !get {
				keep++
				return nil
			}
			fetch++
			bytes += s.Size
			r.prog.grow(1, s.Size)
			return send(s)
		})
		if err != nil {
			return err
		}
		r.log.Info("plan", zap.String("stage", StagePackages), zap.Int("files", len(pkgs)),
			zap.Int("fetch", fetch), zap.Int64("bytes", bytes))
		r.prog.next(StagePackages)
		return nil
	})
	return pkgs, keep, err
}

// packageItem is the pool item of p.
func packageItem(p repo.Package) Item {
	return Item{Path: p.Href, Checksum: p.Checksum, Size: p.Size}
}

// commit stores the index and commits the snapshot tree: the repodata
// files and packages at their hrefs, repomd.xml (and its signature and key) in
// repodata/.
func (r *syncRun) commit(ix index, meta []Item, pkgs []repo.Package) (repo.Snapshot, error) {
	if err := r.storeIndex(ix); err != nil {
		return repo.Snapshot{}, err
	}
	return r.commitFiles(repo.Snapshot{ID: ix.snapshotID(), Repomd: ix.SHA256}, snapshotFiles(ix, meta, pkgs), pkgs)
}

// storeIndex adds repomd.xml, its signature and its key to the pool.
func (r *syncRun) storeIndex(ix index) error {
	files, data := ix.Files()
	for i, f := range files {
		if err := r.m.addToPool(f.Checksum, data[i]); err != nil {
			return err
		}
	}
	return nil
}

// snapshotFiles are the files of a repository's snapshot tree.
func snapshotFiles(ix index, meta []Item, pkgs []repo.Package) []repo.File {
	files, _ := ix.Files()
	for _, it := range meta {
		files = append(files, repo.File{Path: it.Path, Checksum: it.Checksum, Size: it.Size})
	}
	for _, p := range pkgs {
		files = append(files, repo.File{Path: p.Href, Checksum: p.Checksum, Size: p.Size})
	}
	return files
}

// commitFiles commits snap (its ID and what it records of its index) with
// files and pkgs, all in the pool.
func (r *syncRun) commitFiles(snap repo.Snapshot, files []repo.File, pkgs []repo.Package) (repo.Snapshot, error) {
	snap.Repo, snap.Source, snap.CreatedAt = r.src.Repo, r.f.base.Redacted(), r.m.clock()().UTC()
	// CommitSnapshot flushes the store before the snapshot becomes
	// visible, so no snapshot names bytes a crash could lose. It fills
	// in the counts.
	snap, err := r.m.Store.CommitSnapshot(snap, files, pkgs)
	// The tree's paths were checked as they came; should the file system
	// still refuse one, the same names will fail the same way again.
	for _, errno := range []error{unix.ENAMETOOLONG, unix.ENOTDIR, unix.EEXIST} {
		if errors.Is(err, errno) {
			return repo.Snapshot{}, badContent(r.f.base.Redacted(), err)
		}
	}
	return snap, err
}

func (m *Mirror) concurrency() int {
	if m.Concurrency <= 0 {
		return DefaultConcurrency
	}
	return m.Concurrency
}

func (m *Mirror) limits() rpmmd.Limits {
	if m.Limits == (rpmmd.Limits{}) {
		return rpmmd.DefaultLimits()
	}
	return m.Limits
}

func (m *Mirror) minSpeed() MinSpeed {
	if m.MinSpeed == (MinSpeed{}) {
		return DefaultMinSpeed
	}
	return m.MinSpeed
}

func (m *Mirror) logger() *zap.Logger {
	if m.Logger == nil {
		return zap.NewNop()
	}
	return m.Logger
}

func (m *Mirror) clock() func() time.Time {
	if m.now == nil {
		return time.Now
	}
	return m.now
}
