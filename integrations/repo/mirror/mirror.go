// Package mirror copies one rpm-md repository into the store as a verified,
// immutable snapshot.
//
// A sync runs in stages, each a function testable alone:
//
//  1. fetchIndex: repomd.xml, its detached signature when a keyring is
//     configured, verified. An upstream whose repomd.xml already has a
//     snapshot ends the sync here, after one request.
//  2. the files repomd.xml names, planned and fetched into the pool;
//  3. readPrimary: the package list, streamed from primary's pool object;
//  4. PlanDownloads (planner.step): a pure plan, with a reason for every
//     file, made for each package as soon as it is read;
//  5. download: parallel downloads, fed while primary is still being read,
//     each hashed and size-checked while it streams into a new pool object;
//  6. commit: flush the store, then commit the snapshot tree.
//
// Upstream metadata is kept byte for byte. Nothing becomes visible unless
// every checksum from repomd.xml down to each package matched. A sync that
// fails part way keeps what it stored in the pool, so the next one resumes.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"go.uber.org/zap"

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
}

// Progress is reported at every stage change and at most every 250 ms
// within a stage. Totals count what the stage has to do; packages download
// while the package list is read, so in StagePrimary the totals grow, and
// StagePackages carries on with the counts and the final totals.
type Progress struct {
	Repo, Stage           string
	FilesDone, FilesTotal int
	BytesDone, BytesTotal int64
}

// Result is what one Sync did.
type Result struct {
	Snapshot repo.Snapshot
	// Changed is false when upstream's repomd.xml already had a snapshot.
	Changed bool
	// Downloaded counts the metadata files and packages fetched into the
	// pool (repomd.xml and its signature are fetched on every sync and not
	// counted); Reused counts those the pool already held.
	Downloaded      int
	DownloadedBytes int64
	Reused          int
}

// Mirror syncs upstream repos into a store.
type Mirror struct {
	Store       *repo.Store
	Client      *http.Client // must have timeouts; New builds one
	Concurrency int          // parallel downloads; 0: DefaultConcurrency
	Limits      rpmmd.Limits // zero: rpmmd.DefaultLimits()
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
		return Result{}, fmt.Errorf("mirror %s: %w", src.Repo, err)
	}
	return res, nil
}

func (m *Mirror) sync(ctx context.Context, src Source, progress func(Progress)) (Result, error) {
	if err := repo.CheckRepoName(src.Repo); err != nil {
		return Result{}, err
	}
	if src.RequireSignature && src.Keyring == nil {
		return Result{}, fmt.Errorf("%w: signature required but no keyring configured", repo.ErrInvalid)
	}
	lim := m.limits()
	f, err := newFetcher(m.Client, src.URL)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	log := m.logger().With(zap.String("repo", src.Repo), zap.String("url", src.URL))
	prog := newReporter(src.Repo, progress, m.clock())

	// 1. the index
	prog.stage(StageRepomd, 1, 0)
	ix, err := fetchIndex(ctx, f, src, lim)
	if err != nil {
		return Result{}, err
	}
	id := repo.SnapshotID(ix.SHA256)
	switch snap, err := m.Store.Snapshot(src.Repo, id); {
	case err == nil:
		log.Info("upstream unchanged", zap.String("snapshot", id))
		prog.stage(StageDone, 0, 0)
		return Result{Snapshot: snap}, nil
	case !errors.Is(err, repo.ErrNotFound):
		return Result{}, err
	}
	if ix.Signature == nil && src.Keyring != nil {
		log.Warn("upstream repomd.xml is not signed")
	}

	// 2. the metadata files
	meta, err := metadataItems(ix.Repomd, lim, f.url(repomdPath))
	if err != nil {
		return Result{}, err
	}
	primary, ok := ix.Repomd.Find("primary")
	if !ok {
		return Result{}, badContentf(f.url(repomdPath), "%w: no primary metadata", rpmmd.ErrMalformed)
	}
	res := Result{Changed: true}
	if err := m.fetchStage(ctx, f, StageMetadata, meta, prog, log, &res); err != nil {
		return Result{}, err
	}

	// 3.–5. the package list, planned and fetched while it is read
	pkgs, err := m.packagesStage(ctx, f, primary, src.URL, meta, lim, prog, log, &res)
	if err != nil {
		return Result{}, err
	}

	// 6. the snapshot
	prog.stage(StageCommit, 0, 0)
	if res.Snapshot, err = m.commit(src, ix, meta, pkgs); err != nil {
		return Result{}, err
	}
	prog.stage(StageDone, 0, 0)
	log.Info("snapshot committed", zap.String("snapshot", res.Snapshot.ID), zap.Int("downloaded", res.Downloaded),
		zap.Int64("bytes", res.DownloadedBytes), zap.Int("reused", res.Reused))
	return res, nil
}

// fetchStage plans items against the pool, fetches what it lacks as stage,
// and counts both into res.
func (m *Mirror) fetchStage(ctx context.Context, f *fetcher, stage string, items []Item, prog *reporter, log *zap.Logger, res *Result) error {
	plan := PlanDownloads(m.Store, items)
	log.Info("plan", zap.String("stage", stage), zap.Int("files", len(items)),
		zap.Int("fetch", len(plan.Fetch)), zap.Int64("bytes", plan.Bytes()))
	prog.stage(stage, len(plan.Fetch), plan.Bytes())
	got, err := m.download(ctx, f, prog, sendAll(plan.Fetch))
	res.Downloaded += got.files
	res.DownloadedBytes += got.bytes
	res.Reused += len(plan.Keep)
	return err
}

// packagesStage reads the package list from primary and fetches the
// packages the pool lacks, starting each download as soon as its package
// has been read and planned, so that parsing and downloading overlap.
// While the list is read the stage is StagePrimary and its totals grow;
// StagePackages then finishes the downloads. Nothing is committed before
// the whole list has passed its checks.
func (m *Mirror) packagesStage(ctx context.Context, f *fetcher, primary rpmmd.Data, repoBase string, meta []Item,
	lim rpmmd.Limits, prog *reporter, log *zap.Logger, res *Result) ([]repo.Package, error) {
	prog.stage(StagePrimary, 0, 0)
	var pkgs []repo.Package
	var fetch, keep int
	var bytes int64
	got, err := m.download(ctx, f, prog, func(ctx context.Context, send func(Step) error) error {
		pl := newPlanner(m.Store, 0)
		var err error
		pkgs, err = m.readPrimary(ctx, primary, repoBase, f.url(primary.Href), meta, lim, func(p repo.Package) error {
			s, get := pl.step(packageItem(p))
			if !get {
				keep++
				return nil
			}
			fetch++
			bytes += s.Size
			prog.grow(1, s.Size)
			return send(s)
		})
		if err != nil {
			return err
		}
		log.Info("plan", zap.String("stage", StagePackages), zap.Int("files", len(pkgs)),
			zap.Int("fetch", fetch), zap.Int64("bytes", bytes))
		prog.next(StagePackages)
		return nil
	})
	res.Downloaded += got.files
	res.DownloadedBytes += got.bytes
	res.Reused += keep
	return pkgs, err
}

// packageItem is the pool item of p.
func packageItem(p repo.Package) Item {
	return Item{Path: p.Href, Checksum: p.Checksum, Size: p.Size}
}

// commit stores the index and commits the snapshot tree: the repodata
// files and packages at their hrefs, repomd.xml (and its signature) in
// repodata/.
func (m *Mirror) commit(src Source, ix index, meta []Item, pkgs []repo.Package) (repo.Snapshot, error) {
	files := ix.Files()
	if err := m.addToPool(files[0].Checksum, ix.Raw); err != nil {
		return repo.Snapshot{}, err
	}
	if ix.Signature != nil {
		if err := m.addToPool(files[1].Checksum, ix.Signature); err != nil {
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
	return m.Store.CommitSnapshot(repo.Snapshot{
		Repo:      src.Repo,
		ID:        repo.SnapshotID(ix.SHA256),
		Source:    src.URL,
		CreatedAt: m.clock()().UTC(),
		Repomd:    ix.SHA256,
		Packages:  len(pkgs),
		Bytes:     bytes,
	}, files, pkgs)
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
