package activities

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
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

// RepoActivities run where the store is mounted, on the repo task queue.
type RepoActivities struct {
	Store  *repo.Store
	Mirror *mirror.Mirror
	Config *config.Config
	// HeartbeatEvery bounds the silence between heartbeats while a stage
	// reports no progress (a large primary.xml being parsed, say).
	HeartbeatEvery time.Duration
}

// SyncRepo mirrors one configured repo into a snapshot. After a retry it
// resumes: files that reached the pool are not downloaded again, and the
// counts of the earlier attempts, kept in the heartbeat, carry on, so a
// worker that died costs the sync nothing but the files in flight. A
// failure names its root cause once, with what to do about it.
func (a *RepoActivities) SyncRepo(ctx context.Context, in SyncRepoInput) (RepoSync, error) {
	rc, ok := a.Config.Repo(in.Repo)
	if !ok {
		return RepoSync{}, invalid(fmt.Sprintf("repo %q is not in the worker's configuration %s", in.Repo, a.Config.Path))
	}
	src, err := a.source(ctx, rc)
	if err != nil {
		return RepoSync{}, classify(err)
	}
	src.AllowOlder = in.AllowOlder

	var prior SyncProgress
	if activity.HasHeartbeatDetails(ctx) {
		// Undecodable details (an older worker's) only lose the counts.
		_ = activity.GetHeartbeatDetails(ctx, &prior)
	}
	src.Prior = mirror.Counts{Downloaded: prior.Downloaded, DownloadedBytes: prior.DownloadedBytes, Retries: prior.Retries}

	var mu sync.Mutex
	last := SyncProgress{Repo: in.Repo, Stage: "starting"}
	last.setCounts(src.Prior)
	every := a.HeartbeatEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	stop := heartbeatEvery(ctx, every, func() any { mu.Lock(); defer mu.Unlock(); return last })
	defer stop()
	activity.RecordHeartbeat(ctx, last)
	res, err := a.Mirror.Sync(ctx, src, func(p mirror.Progress) {
		sp := syncProgress(p)
		mu.Lock()
		last = sp
		mu.Unlock()
		activity.RecordHeartbeat(ctx, sp)
	})
	if err != nil {
		return RepoSync{}, a.syncError(rc, err)
	}
	return RepoSync{
		Repo:            in.Repo,
		Snapshot:        res.Snapshot.ID,
		Changed:         res.Changed,
		Packages:        res.Snapshot.Packages,
		Downloaded:      res.Downloaded,
		DownloadedBytes: res.DownloadedBytes,
		Retries:         res.Retries,
	}, nil
}

func syncProgress(p mirror.Progress) SyncProgress {
	sp := SyncProgress{Repo: p.Repo, Stage: p.Stage, FilesDone: p.FilesDone, FilesTotal: p.FilesTotal,
		BytesDone: p.BytesDone, BytesTotal: p.BytesTotal}
	sp.setCounts(p.Counts)
	return sp
}

func (p *SyncProgress) setCounts(c mirror.Counts) {
	p.Downloaded, p.DownloadedBytes, p.Retries = c.Downloaded, c.DownloadedBytes, c.Retries
}

// syncError turns a failed sync into the error the workflow sees: its root
// cause once (the mirror's message names the repo and the URL or file at
// fault), what to do about it, and whether Temporal should retry. The
// details carry the same as a SyncFailure for programs.
func (a *RepoActivities) syncError(rc config.Repo, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	f := SyncFailure{Repo: rc.Name, URL: rc.URL, Cause: err.Error()}
	var se *mirror.SyncError
	if errors.As(err, &se) {
		f.URL, f.Cause = se.URL, se.Err.Error()
	}
	retryable := false
	switch {
	case errors.Is(err, repo.ErrBadContent):
		f.Kind = ErrTypeBadContent
		f.Hint = "not retried: the upstream serves content that fails verification, and will until it is repaired"
	case errors.Is(err, mirror.ErrUpstreamFailing):
		f.Kind = ErrTypeUpstreamFailing
		f.Hint = "not retried: the upstream failed too often; check it, or point repos[].url at another mirror"
	case errors.Is(err, repo.ErrInvalid), errors.Is(err, repo.ErrNotFound):
		f.Kind = ErrTypeInvalidInput
		f.Hint = fmt.Sprintf("not retried: fix repo %s in %s", rc.Name, a.Config.Path)
	default:
		f.Kind, retryable = ErrTypeSyncInterrupted, true
		f.Hint = "retried with backoff until sync.timeout; the next attempt resumes from what is stored"
	}
	msg := fmt.Sprintf("repo %s: %s (%s)", f.Repo, f.Cause, f.Hint)
	return temporal.NewApplicationErrorWithOptions(msg, f.Kind, temporal.ApplicationErrorOptions{
		NonRetryable: !retryable,
		Details:      []any{f},
	})
}

// NewMirror builds the mirror the repo activities of one worker share, as
// the configuration's sync section says: its downloads per repo, their
// limit across repos, and the minimum transfer speed.
func NewMirror(st *repo.Store, cfg *config.Config, logger *zap.Logger) *mirror.Mirror {
	m := mirror.New(st, cfg.Sync.Concurrency, logger)
	m.Downloads = mirror.NewLimit(cfg.Sync.MaxDownloads)
	m.MinSpeed = mirror.MinSpeed{BytesPerSecond: cfg.Sync.MinSpeed.BytesPerSecond, Window: cfg.Sync.MinSpeed.Window}
	return m
}

// source resolves a configured repo to what the mirror reads: an overlay is
// first indexed with createrepo_c and then mirrored from disk like any repo.
func (a *RepoActivities) source(ctx context.Context, rc config.Repo) (mirror.Source, error) {
	src := mirror.Source{Repo: rc.Name, URL: rc.URL, RequireSignature: rc.RequiresSignature(),
		AllowRedirectHosts: rc.AllowRedirectHosts, MaxAge: rc.MaxAge.Duration}
	if rc.Overlay {
		dir, err := a.Store.OverlayPrepare(ctx, rc.Name)
		if err != nil {
			return src, fmt.Errorf("prepare overlay %s: %w", rc.Name, err)
		}
		src.URL = (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir) + "/"}).String()
	}
	if rc.GPGKey != "" {
		kr, err := readKeyring(rc.GPGKey)
		if err != nil {
			return src, fmt.Errorf("repo %s: %w", rc.Name, err)
		}
		src.Keyring = kr
	}
	return src, nil
}

func readKeyring(path string) (openpgp.EntityList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gpg key %s: %w: %w", path, repo.ErrInvalid, err)
	}
	defer f.Close()
	kr, err := rpmmd.ReadKeyring(f)
	if err != nil {
		return nil, fmt.Errorf("gpg key %s: %w: %w", path, repo.ErrInvalid, err)
	}
	return kr, nil
}

// CreateRelease records the release of the given snapshots; the same
// snapshots always give the same release, so a retry is harmless.
func (a *RepoActivities) CreateRelease(_ context.Context, in CreateReleaseInput) (CreateReleaseResult, error) {
	rel, created, err := a.Store.CreateRelease(in.CreatedAt, in.Snapshots)
	if err != nil {
		return CreateReleaseResult{}, classify(fmt.Errorf("create release: %w", err))
	}
	return CreateReleaseResult{Release: rel.ID, Created: created}, nil
}

// SwitchChannel points a channel at a release. Switching to the release
// already served is a no-op, so a retry is harmless.
func (a *RepoActivities) SwitchChannel(ctx context.Context, in SwitchChannelInput) (ChannelSwitch, error) {
	from, err := a.Store.Channel(in.Channel)
	if err != nil {
		return ChannelSwitch{}, classify(err)
	}
	if from == in.Release {
		return ChannelSwitch{Channel: in.Channel, From: from, To: from}, nil
	}
	sw, err := a.Store.Switch(ctx, in.Channel, in.Release, in.Actor, in.Reason)
	if errors.Is(err, repo.ErrFrozen) {
		// A frozen channel is the operator's decision, not a failure.
		activity.GetLogger(ctx).Info("channel frozen; not switched", "channel", in.Channel, "release", in.Release)
		return ChannelSwitch{Channel: in.Channel, From: from, To: from, Frozen: true}, nil
	}
	if err != nil {
		return ChannelSwitch{}, classify(fmt.Errorf("switch channel %s to %s: %w", in.Channel, in.Release, err))
	}
	return ChannelSwitch{Channel: in.Channel, From: sw.From, To: sw.To, Changed: true}, nil
}

// SetFreeze holds or releases a channel in the store.
func (a *RepoActivities) SetFreeze(ctx context.Context, in FreezeInput) error {
	return classify(a.Store.SetFreeze(ctx, in.Channel, in.Frozen, in.Actor, in.Reason))
}

// maxDiffLines bounds a diff summary: it travels through workflow history.
const maxDiffLines = 200

// DiffSummary summarises the package changes from one release or channel
// to another. A channel that never served anything diffs as empty.
func (a *RepoActivities) DiffSummary(_ context.Context, in DiffSummaryInput) (DiffSummary, error) {
	sum := DiffSummary{From: in.From, To: in.To}
	from := in.From
	if cur, err := a.Store.Channel(from); err == nil && cur == "" {
		from = ""
	}
	var d repo.ReleaseDiff
	var err error
	if from == "" {
		d, err = a.diffFromNothing(in.To)
	} else {
		d, err = a.Store.DiffReleases(from, in.To)
	}
	if err != nil {
		return sum, classify(fmt.Errorf("diff %s -> %s: %w", in.From, in.To, err))
	}
	add := func(line string) {
		if len(sum.Lines) < maxDiffLines {
			sum.Lines = append(sum.Lines, line)
		} else {
			sum.Truncated = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(d.Repos)) {
		sd := d.Repos[name]
		sum.Added += len(sd.Added)
		sum.Removed += len(sd.Removed)
		sum.Upgraded += len(sd.Upgraded)
		sum.Downgraded += len(sd.Downgraded)
		sum.Rebuilt += len(sd.Rebuilt)
		for _, p := range sd.Added {
			add(fmt.Sprintf("[%s] + %s", name, p.NEVRA()))
		}
		for _, p := range sd.Removed {
			add(fmt.Sprintf("[%s] - %s", name, p.NEVRA()))
		}
		for _, c := range sd.Upgraded {
			add(fmt.Sprintf("[%s] ^ %s -> %s", name, c.From.NEVRA(), c.To.NEVRA()))
		}
		for _, c := range sd.Downgraded {
			add(fmt.Sprintf("[%s] v %s -> %s", name, c.From.NEVRA(), c.To.NEVRA()))
		}
		for _, c := range sd.Rebuilt {
			add(fmt.Sprintf("[%s] ~ %s (rebuilt)", name, c.To.NEVRA()))
		}
	}
	return sum, nil
}

// diffFromNothing lists a whole release as added: the first promotion of a
// site has no production release to compare with.
func (a *RepoActivities) diffFromNothing(to string) (repo.ReleaseDiff, error) {
	rel, err := a.Store.Release(to)
	if err != nil {
		if id, cerr := a.Store.Channel(to); cerr == nil && id != "" {
			rel, err = a.Store.Release(id)
		}
		if err != nil {
			return repo.ReleaseDiff{}, err
		}
	}
	d := repo.ReleaseDiff{To: rel.ID, Repos: map[string]repo.SnapshotDiff{}}
	for name, snap := range rel.Repos {
		pkgs, err := a.Store.Manifest(name, snap)
		if err != nil {
			return d, err
		}
		d.Repos[name] = repo.DiffManifests(nil, pkgs)
	}
	return d, nil
}

// RollbackChannel moves a channel back to a release it served before.
func (a *RepoActivities) RollbackChannel(ctx context.Context, in RollbackInput) (ChannelSwitch, error) {
	sw, err := a.Store.Rollback(ctx, in.Channel, in.To, in.Actor, in.Reason)
	if err != nil {
		return ChannelSwitch{}, classify(fmt.Errorf("roll back channel %s: %w", in.Channel, err))
	}
	return ChannelSwitch{Channel: in.Channel, From: sw.From, To: sw.To, Changed: sw.From != sw.To}, nil
}
