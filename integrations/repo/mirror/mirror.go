// Package mirror copies one rpm-md repository into the store as a verified,
// immutable snapshot.
//
// A sync runs in stages, each a function testable alone:
//
//  1. fetchIndex: repomd.xml, its detached signature when a keyring is
//     configured, verified; checkFresh: refused if older than the index
//     last accepted for the repo (or than its MaxAge). An upstream whose
//     repomd.xml already has a snapshot ends the sync here.
//  2. the files repomd.xml names, planned and fetched into the pool;
//  3. readPrimary: the package list, streamed from primary's pool object,
//     decompressed no further than its declared open size;
//  4. PlanDownloads (planner.step): a pure plan, with a reason for every
//     file, made for each package as soon as it is read;
//  5. download: parallel downloads, fed while primary is still being read,
//     each hashed and size-checked while it streams into a new pool object,
//     and retried on its own through a flapping upstream (retrying);
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
	Repo             string             // repo name
	URL              string             // base URL (the directory holding repodata/): http://, https:// or file://
	Keyring          openpgp.EntityList // nil: no signature check
	RequireSignature bool               // refuse an unsigned repomd.xml (needs Keyring)
	// AllowRedirectHosts are hosts ("host" or "host:port") besides the
	// repo's own that an HTTP redirect may lead to: CDNs the site trusts.
	AllowRedirectHosts []string
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
		return Result{}, &SyncError{Repo: src.Repo, URL: redactURL(src.URL), Err: err}
	}
	return res, nil
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
}

func (m *Mirror) sync(ctx context.Context, src Source, progress func(Progress)) (Result, error) {
	if err := repo.CheckRepoName(src.Repo); err != nil {
		return Result{}, err
	}
	if src.RequireSignature && src.Keyring == nil {
		return Result{}, fmt.Errorf("%w: signature required but no keyring configured", repo.ErrInvalid)
	}
	f, err := newFetcher(m.Client, src.URL)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	r := &syncRun{
		m: m, src: src, f: f, lim: m.limits(),
		log:   m.logger().With(zap.String("repo", src.Repo), zap.String("url", redactURL(src.URL))),
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
	f.speed, f.redirectHosts, f.log = m.minSpeed(), src.AllowRedirectHosts, r.log
	res, err := r.sync(ctx)
	if err != nil {
		r.prog.flush()
	}
	return res, err
}

func (r *syncRun) sync(ctx context.Context) (Result, error) {
	// 1. the index, and whether it moves forward
	r.prog.stage(StageRepomd, 1, 0)
	ix, err := r.fetchIndex(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := r.checkFresh(ix); err != nil {
		return Result{}, err
	}
	id := repo.SnapshotID(ix.SHA256)
	switch snap, err := r.m.Store.Snapshot(r.src.Repo, id); {
	case err == nil:
		if err := r.accept(ix, id); err != nil {
			return Result{}, err
		}
		r.log.Info("upstream unchanged", zap.String("snapshot", id))
		r.prog.stage(StageDone, 0, 0)
		return Result{Snapshot: snap, Counts: r.prog.counts()}, nil
	case !errors.Is(err, repo.ErrNotFound):
		return Result{}, err
	}
	if ix.Signature == nil && r.src.Keyring != nil {
		r.log.Warn("upstream repomd.xml is not signed")
	}

	// 2. the metadata files
	where := r.f.url(repomdPath)
	meta, err := metadataItems(ix.Repomd, r.lim, where)
	if err != nil {
		return Result{}, err
	}
	primary, ok := ix.Repomd.Find("primary")
	if !ok {
		return Result{}, badContentf(where, "%w: no primary metadata", rpmmd.ErrMalformed)
	}
	tree := newTreePaths(repomdPath, signaturePath)
	for _, it := range meta {
		if err := tree.add(it.Path); err != nil {
			return Result{}, badContent(where, err)
		}
	}
	res := Result{Changed: true}
	if res.Reused, err = r.fetchStage(ctx, StageMetadata, meta); err != nil {
		return Result{}, err
	}

	// 3.–5. the package list, planned and fetched while it is read, and
	// beside it the check of the other metadata files' open content
	// (seconds of CPU for a large repo's databases): a failure of the
	// check stops the packages at once.
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
	pkgs, reused, err := r.packagesStage(pctx, primary, tree)
	res.Reused += reused
	if err != nil {
		stop(err)
	}
	if cerr := <-checked; cerr != nil && context.Cause(pctx) == cerr {
		return Result{}, cerr
	}
	if err != nil {
		return Result{}, err
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
// files and packages at their hrefs, repomd.xml (and its signature) in
// repodata/.
func (r *syncRun) commit(ix index, meta []Item, pkgs []repo.Package) (repo.Snapshot, error) {
	files := ix.Files()
	if err := r.m.addToPool(files[0].Checksum, ix.Raw); err != nil {
		return repo.Snapshot{}, err
	}
	if ix.Signature != nil {
		if err := r.m.addToPool(files[1].Checksum, ix.Signature); err != nil {
			return repo.Snapshot{}, err
		}
	}
	for _, it := range meta {
		files = append(files, repo.File{Path: it.Path, Checksum: it.Checksum, Size: it.Size})
	}
	for _, p := range pkgs {
		files = append(files, repo.File{Path: p.Href, Checksum: p.Checksum, Size: p.Size})
	}
	var bytes int64
	for _, f := range files {
		bytes += f.Size
	}
	// CommitSnapshot flushes the store before the snapshot becomes
	// visible, so no snapshot names bytes a crash could lose.
	snap, err := r.m.Store.CommitSnapshot(repo.Snapshot{
		Repo:      r.src.Repo,
		ID:        repo.SnapshotID(ix.SHA256),
		Source:    redactURL(r.src.URL),
		CreatedAt: r.m.clock()().UTC(),
		Repomd:    ix.SHA256,
		Packages:  len(pkgs),
		Bytes:     bytes,
	}, files, pkgs)
	// The tree's paths were checked as they came; should the file system
	// still refuse one, the same names will fail the same way again.
	for _, errno := range []error{unix.ENAMETOOLONG, unix.ENOTDIR, unix.EEXIST} {
		if errors.Is(err, errno) {
			return repo.Snapshot{}, badContent(redactURL(r.src.URL), err)
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
