package activities

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
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
	if rc.Overlay {
		// Snapshotted under the overlay's lock: a later overlay snapshot
		// always holds everything an earlier one (a bypass's) did.
		var res RepoSync
		err := a.Store.WithOverlay(ctx, rc.Name, func(dir string) (err error) {
			res, err = a.syncRepo(ctx, in, rc, dir)
			return err
		})
		return res, err
	}
	return a.syncRepo(ctx, in, rc, "")
}

// syncRepo mirrors one repo, from overlayDir when it is an overlay.
func (a *RepoActivities) syncRepo(ctx context.Context, in SyncRepoInput, rc config.Repo, overlayDir string) (RepoSync, error) {
	src, err := a.source(rc, overlayDir)
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
		Mirror:          res.Mirror,
		Refused:         refusedMirrors(res.Refused),
	}, nil
}

// refusedShown bounds the refused mirrors a result carries into history;
// the worker's log has them all.
const refusedShown = 10

func refusedMirrors(refused []mirror.Refusal) []RefusedMirror {
	var out []RefusedMirror
	for i, r := range refused {
		if i == refusedShown {
			out = append(out, RefusedMirror{Mirror: fmt.Sprintf("and %d more", len(refused)-i), Reason: "see the worker's log (mirror refused)"})
			break
		}
		out = append(out, RefusedMirror{Mirror: r.Mirror, Reason: r.Err.Error()})
	}
	return out
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
// cause once (the mirror's message names the URL or file at fault; the
// workflow adds the repo), what to do about it, and whether Temporal should
// retry. The details carry the same, and the repo, as a SyncFailure.
func (a *RepoActivities) syncError(rc config.Repo, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	f := SyncFailure{Repo: rc.Name, URL: cmp.Or(rc.URL, rc.Metalink, rc.Mirrorlist), Cause: err.Error()}
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
	case errors.Is(err, mirror.ErrSyncTimeout):
		f.Kind = ErrTypeUpstreamFailing
		f.Hint = "not retried: sync.timeout ran out waiting for the upstream; check it, or point repos[].url at another mirror"
	case errors.Is(err, syscall.EMLINK):
		f.Kind = ErrTypeStoreLimit
		f.Hint = strings.TrimSuffix(strings.TrimPrefix(tooManyLinksHint, " ("), ")")
	default:
		f.Kind, retryable = ErrTypeSyncInterrupted, true
		f.Hint = "retried with backoff until sync.timeout; the next attempt resumes from what is stored"
	}
	// The workflow names the repo (the activity's input) in front of it.
	msg := fmt.Sprintf("%s (%s)", f.Cause, f.Hint)
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
func (a *RepoActivities) source(rc config.Repo, overlayDir string) (mirror.Source, error) {
	src := mirror.Source{Repo: rc.Name, URL: rc.URL, Kind: rc.Kind, RequireSignature: rc.RequiresSignature(),
		AllowRedirectHosts: rc.AllowRedirectHosts, MaxAge: rc.MaxAge.Duration,
		Mirrorlist: rc.Mirrorlist, Metalink: rc.Metalink, Proxy: rc.Proxy}
	if t := rc.TLS; t != nil {
		// Paths only: the key is read by the transport, at each sync.
		src.TLS = mirror.TLSFiles{ClientCert: t.ClientCert, ClientKey: t.ClientKey, CACert: t.CACert}
	}
	var kr openpgp.EntityList
	if rc.GPGKey != "" {
		var err error
		if kr, err = readKeyring(rc.GPGKey); err != nil {
			return src, fmt.Errorf("repo %s: %w", rc.Name, err)
		}
	}
	if rc.Overlay {
		// An overlay's metadata is made here and unsigned; its gpgKey is
		// the key of its RPMs, checked when a bypass adds them, and
		// served for the nodes' gpgcheck.
		src.URL = (&url.URL{Scheme: "file", Path: filepath.ToSlash(overlayDir) + "/"}).String()
		src.RequireSignature, src.Generated, src.PublishKey = false, true, kr
		return src, nil
	}
	src.Keyring = kr
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
// snapshots always give the same release, so a retry is harmless. Created
// says whether this request made it, in any attempt: a release bears the
// creation time of the request that made it, which comes from workflow
// time and so is the same in every attempt.
func (a *RepoActivities) CreateRelease(ctx context.Context, in CreateReleaseInput) (CreateReleaseResult, error) {
	defer a.keepAlive(ctx)()
	rel, created, err := a.Store.CreateRelease(in.CreatedAt, in.Snapshots)
	if err != nil {
		return CreateReleaseResult{}, classify(fmt.Errorf("create release: %w", err))
	}
	created = created || rel.CreatedAt.Equal(in.CreatedAt.UTC())
	return CreateReleaseResult{Release: rel.ID, Created: created}, nil
}

// SwitchChannel points a channel at a release. The store records the
// outcome under the operation key, so a retry after a lost completion
// returns what the first attempt did (Changed stays true) instead of
// "already there". A frozen channel is the operator's decision, not a
// failure: it is reported as Frozen.
func (a *RepoActivities) SwitchChannel(ctx context.Context, in SwitchChannelInput) (ChannelSwitch, error) {
	defer a.keepAlive(ctx)()
	sw, err := a.Store.Switch(ctx, repo.SwitchRequest{
		Channel: in.Channel, Release: in.Release, Actor: in.Actor, Reason: in.Reason, Key: opKey(ctx, in.Key),
	})
	if errors.Is(err, repo.ErrFrozen) {
		activity.GetLogger(ctx).Info("channel frozen; not switched", "channel", in.Channel, "release", in.Release)
		return channelSwitch(sw), nil
	}
	if err != nil {
		return ChannelSwitch{}, classify(err)
	}
	return channelSwitch(sw), nil
}

func channelSwitch(sw repo.Switch) ChannelSwitch {
	return ChannelSwitch{
		Channel: sw.Channel, From: sw.From, To: sw.To, Key: sw.Key,
		Changed: sw.Moved(), Frozen: sw.Outcome == repo.OutcomeFrozen,
	}
}

// PublishRelease is CreateRelease and then SwitchChannel for each of
// in.Switches, in one activity: a daily sync costs two fewer round trips
// through Temporal. Each step is what it is alone (the release follows
// from the snapshots, each switch is keyed), so a retry returns what the
// first attempt did. A failed switch fails the activity, classified as
// it was, with the switches done before it as the error's details: the
// operator is told which channels moved.
//
// The repos in in.Failed keep the snapshot the first switch's channel
// (daily) served before this request, marked stale in the release.
func (a *RepoActivities) PublishRelease(ctx context.Context, in PublishReleaseInput) (PublishReleaseResult, error) {
	var res PublishReleaseResult
	var err error
	if res, err = a.createStaleRelease(ctx, in); err != nil {
		return res, err
	}
	for _, sw := range in.Switches {
		sw.Release = res.Release
		done, err := a.SwitchChannel(ctx, sw)
		if err != nil {
			return res, withPartial(err, res)
		}
		res.Switches = append(res.Switches, done)
	}
	return res, nil
}

// createStaleRelease creates the release of in.Snapshots with the repos
// in in.Failed carried over from the release the daily channel served
// before this request: what it serves now, unless this request's keyed
// switch already moved it, then what it moved from. It reports the repos
// that release marked stale and this one does not as recovered.
func (a *RepoActivities) createStaleRelease(ctx context.Context, in PublishReleaseInput) (PublishReleaseResult, error) {
	defer a.keepAlive(ctx)()
	var res PublishReleaseResult
	var prev repo.Release
	if len(in.Switches) > 0 {
		var err error
		if prev, err = a.releaseBefore(ctx, in.Switches[0]); err != nil {
			return res, err
		}
	} else if len(in.Failed) > 0 {
		return res, invalid("publish release: failed repos to carry over, but no channel to carry them from")
	}
	failed := make(map[string]repo.StaleRepo, len(in.Failed))
	for _, f := range in.Failed {
		failed[f.Repo] = repo.StaleRepo{URL: redactURL(f.URL), Cause: f.Cause}
	}
	carried, stale, err := repo.CarryStale(prev, failed, in.CreatedAt)
	if err != nil {
		return res, classify(fmt.Errorf("publish release: %w", err))
	}
	snaps := maps.Clone(in.Snapshots)
	maps.Copy(snaps, carried)
	rel, created, err := a.Store.CreateReleaseStale(in.CreatedAt, snaps, stale)
	if err != nil {
		return res, classify(fmt.Errorf("create release: %w", err))
	}
	res.Release, res.Created = rel.ID, created || rel.CreatedAt.Equal(in.CreatedAt.UTC())
	res.Stale = staleRepos(rel)
	res.Recovered = repo.Recovered(prev, stale)
	return res, nil
}

// releaseStale lists the stale repos of release id (none for a channel
// that serves nothing yet).
func (a *RepoActivities) releaseStale(id string) ([]StaleRepo, error) {
	if repo.CheckReleaseID(id) != nil {
		return nil, nil
	}
	rel, err := a.Store.Release(id)
	if err != nil {
		return nil, classify(err)
	}
	return staleRepos(rel), nil
}

// staleRepos lists the stale repos of rel, sorted by name.
func staleRepos(rel repo.Release) []StaleRepo {
	var out []StaleRepo
	for _, name := range slices.Sorted(maps.Keys(rel.Stale)) {
		m := rel.Stale[name]
		out = append(out, StaleRepo{Repo: name, Snapshot: rel.Repos[name], Since: m.Since, URL: m.URL, Cause: m.Cause})
	}
	return out
}

// releaseBefore reads the release sw.Channel served before sw: the
// channel's current one, or, if sw's key already switched it, the one
// that switch left. The zero Release when the channel served nothing.
func (a *RepoActivities) releaseBefore(ctx context.Context, sw SwitchChannelInput) (repo.Release, error) {
	done, ok, err := a.recorded(ctx, sw.Channel, sw.Key)
	if err != nil {
		return repo.Release{}, err
	}
	id := done.From
	if !ok {
		if id, err = a.Store.Channel(sw.Channel); err != nil {
			return repo.Release{}, classify(err)
		}
	}
	if id == "" {
		return repo.Release{}, nil
	}
	rel, err := a.Store.Release(id)
	return rel, classify(err)
}

// withPartial carries what an activity did before it failed in the
// error's details, keeping the error's type and retryability.
func withPartial(err error, partial any) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	var app *temporal.ApplicationError
	opts := temporal.ApplicationErrorOptions{Details: []any{partial}}
	typ := ""
	if errors.As(err, &app) {
		typ, opts.NonRetryable, opts.NextRetryDelay = app.Type(), app.NonRetryable(), app.NextRetryDelay()
	}
	return temporal.NewApplicationErrorWithOptions(err.Error(), typ, opts)
}

// ChannelState reads what a channel serves now and whether it is frozen:
// workflows act on this, not on what an earlier step reported.
func (a *RepoActivities) ChannelState(_ context.Context, in ChannelStateInput) (ChannelState, error) {
	rel, err := a.Store.Channel(in.Channel)
	if err != nil {
		return ChannelState{}, classify(err)
	}
	fz, err := a.Store.Frozen(in.Channel)
	if err != nil {
		return ChannelState{}, classify(err)
	}
	st := ChannelState{Channel: in.Channel, Release: rel, Base: rel}
	if rel != "" {
		if st.Chain, err = a.Store.ReleaseChain(rel); err != nil {
			return ChannelState{}, classify(err)
		}
		st.Base = st.Chain[len(st.Chain)-1]
	}
	if fz != nil {
		st.Freeze = &FreezeState{Actor: fz.Actor, Reason: fz.Reason, Since: fz.Time, Release: fz.Release, Key: fz.Key}
	}
	return st, nil
}

// SetFreeze freezes a channel at an absolute release, or releases it, and
// returns the channel's state afterwards.
func (a *RepoActivities) SetFreeze(ctx context.Context, in FreezeInput) (ChannelState, error) {
	defer a.keepAlive(ctx)()
	if in.Reason == "" && !in.Frozen {
		in.Reason = "unfreeze" // callers from before reasons were required
	}
	if in.Frozen && in.Release == "" {
		// A test cycle started before freezes named their release: what
		// testing serves now, read once under the operation's key.
		if done, ok, err := a.recordedFreeze(ctx, in); err != nil || ok {
			return done, err
		}
		cur, err := a.Store.Channel(in.Channel)
		if err != nil {
			return ChannelState{}, classify(err)
		}
		in.Release = cur
	}
	_, err := a.Store.SetFreeze(ctx, repo.FreezeRequest{
		Channel: in.Channel, Frozen: in.Frozen, Release: in.Release, Actor: in.Actor, Reason: in.Reason,
		Key: opKey(ctx, in.Key), IfKey: in.IfKey,
	})
	if err != nil {
		return ChannelState{}, classify(err)
	}
	return a.ChannelState(ctx, ChannelStateInput{Channel: in.Channel})
}

// maxDiffLines bounds a diff summary: it travels through workflow history.
const maxDiffLines = 200

// DiffSummary summarises the package changes from one release or channel
// to another. A channel that never served anything diffs as empty.
func (a *RepoActivities) DiffSummary(_ context.Context, in DiffSummaryInput) (DiffSummary, error) {
	sum, _, err := a.diffSummary(in)
	return sum, err
}

// diffSummary is DiffSummary, and the diff it summarises.
func (a *RepoActivities) diffSummary(in DiffSummaryInput) (DiffSummary, repo.ReleaseDiff, error) {
	sum := DiffSummary{From: in.From, To: in.To}
	d, err := a.Store.DiffReleases(in.From, in.To)
	if err != nil {
		return sum, d, classify(fmt.Errorf("diff %s -> %s: %w", in.From, in.To, err))
	}
	sum.FromNothing = repo.CheckReleaseID(d.From) != nil
	count := func(name string) RepoCount {
		sd := d.Repos[name]
		return RepoCount{Repo: name, Packages: len(sd.Added) + len(sd.Removed)}
	}
	for _, name := range d.AddedRepos {
		sum.AddedRepos = append(sum.AddedRepos, count(name))
	}
	for _, name := range d.RemovedRepos {
		sum.RemovedRepos = append(sum.RemovedRepos, count(name))
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
	if err := a.addShadows(&sum, d.To); err != nil {
		return sum, d, err
	}
	if in.From == a.Config.Channels.Production {
		bypasses, err := a.Store.BypassesSincePromotion(in.From)
		if err != nil {
			return sum, d, classify(err)
		}
		for _, b := range bypasses {
			sum.Bypasses = append(sum.Bypasses, BypassNote{ID: b.Bypass, Time: b.Time, Overlay: b.Overlay, Packages: b.Packages, Actor: b.Actor, Reason: b.Reason})
		}
	}
	return sum, d, nil
}

// maxShadows bounds the shadowed NEVRAs a diff summary carries.
const maxShadows = 50

// addShadows adds the shadowed NEVRAs that release recorded (none for a
// channel that serves nothing yet).
func (a *RepoActivities) addShadows(sum *DiffSummary, release string) error {
	if repo.CheckReleaseID(release) != nil {
		return nil
	}
	shadows, err := a.Store.ReleaseShadows(release)
	if err != nil {
		return classify(err)
	}
	for i, sh := range shadows {
		if i == maxShadows {
			sum.MoreShadows = len(shadows) - maxShadows
			break
		}
		sum.Shadows = append(sum.Shadows, sh.String())
	}
	return nil
}

// ResolveRollback turns a rollback request into an absolute target: the
// given release, checked, or the release the channel served before its
// current one. A workflow resolves once and passes the answer on, so a
// retried rollback never resolves "the one before" again.
func (a *RepoActivities) ResolveRollback(_ context.Context, in RollbackInput) (RollbackInput, error) {
	if in.To != "" {
		return in, nil
	}
	_, prev, err := a.Store.PreviousRelease(in.Channel)
	if err != nil {
		return in, classify(fmt.Errorf("roll back channel %s: %w", in.Channel, err))
	}
	in.To = prev
	return in, nil
}

// RollbackChannel moves a channel back to a release it served before. The
// target must be absolute (see ResolveRollback).
func (a *RepoActivities) RollbackChannel(ctx context.Context, in RollbackInput) (ChannelSwitch, error) {
	defer a.keepAlive(ctx)()
	if in.To == "" {
		// A workflow started before targets were resolved up front:
		// resolve here, keyed so that its retries cannot resolve again.
		if e, ok, err := a.recorded(ctx, in.Channel, in.Key); err != nil || ok {
			return channelSwitch(e), err
		}
		var err error
		if in, err = a.ResolveRollback(ctx, in); err != nil {
			return ChannelSwitch{}, err
		}
	}
	sw, err := a.Store.Rollback(ctx, repo.SwitchRequest{
		Channel: in.Channel, Release: in.To, Actor: in.Actor, Reason: in.Reason, Key: opKey(ctx, in.Key),
	})
	if err != nil {
		return ChannelSwitch{}, classify(err)
	}
	return channelSwitch(sw), nil
}

// recorded finds the audit entry of an operation on a channel.
func (a *RepoActivities) recorded(ctx context.Context, channel, key string) (repo.Switch, bool, error) {
	key = opKey(ctx, key)
	log, err := a.Store.History(channel)
	if err != nil {
		return repo.Switch{}, false, classify(err)
	}
	for _, e := range log {
		if e.Key == key {
			return e, true, nil
		}
	}
	return repo.Switch{}, false, nil
}

// recordedFreeze answers the retry of a freeze that had no release.
func (a *RepoActivities) recordedFreeze(ctx context.Context, in FreezeInput) (ChannelState, bool, error) {
	if _, ok, err := a.recorded(ctx, in.Channel, in.Key); err != nil || !ok {
		return ChannelState{}, false, err
	}
	st, err := a.ChannelState(ctx, ChannelStateInput{Channel: in.Channel})
	return st, true, err
}

// keepAlive heartbeats while a store operation runs (it may wait for the
// store's lock), so that a worker killed meanwhile is noticed within the
// heartbeat timeout rather than the whole activity timeout.
func (a *RepoActivities) keepAlive(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	return heartbeatEvery(ctx, 5*time.Second, nil)
}

// maxAdvisories bounds the advisories a risk report carries in history,
// and maxAdvisoryPackages the packages listed for each.
const (
	maxAdvisories       = 50
	maxAdvisoryPackages = 10
)

// PackageRisk is the package side of a risk report: the diff from one
// release or channel to another and the upstream advisories it brings,
// security first.
func (a *RepoActivities) PackageRisk(_ context.Context, in DiffSummaryInput) (PackageRisk, error) {
	sum, d, err := a.diffSummary(in)
	if err != nil {
		return PackageRisk{}, err
	}
	found, err := a.Store.ReleaseAdvisories(d)
	if err != nil {
		return PackageRisk{}, classify(err)
	}
	risk := PackageRisk{Diff: sum}
	if risk.Stale, err = a.releaseStale(d.To); err != nil {
		return PackageRisk{}, err
	}
	for i, ad := range found {
		if i == maxAdvisories {
			risk.MoreAdvisories = len(found) - maxAdvisories
			break
		}
		adv := Advisory{ID: ad.ID, Type: ad.Type, Severity: ad.Severity,
			Title: ad.Title, CVEs: ad.CVEs(), Repo: strings.Join(ad.Repos, ","), Packages: ad.Fixes}
		if n := len(adv.Packages); n > maxAdvisoryPackages {
			adv.Packages, adv.MorePackages = adv.Packages[:maxAdvisoryPackages], n-maxAdvisoryPackages
		}
		risk.Advisories = append(risk.Advisories, adv)
	}
	modules, err := a.Store.ReleaseModuleChanges(d)
	if err != nil {
		return PackageRisk{}, classify(err)
	}
	for i, m := range modules {
		if i == maxAdvisories {
			risk.MoreModules = len(modules) - maxAdvisories
			break
		}
		risk.Modules = append(risk.Modules, m.String())
	}
	return risk, nil
}

// RecordCandidate keeps a candidate in the release's provenance, where a
// promotion started by hand loads it and `osflow audit` reads its gate.
func (a *RepoActivities) RecordCandidate(ctx context.Context, c Candidate) error {
	defer a.keepAlive(ctx)()
	return classify(a.Store.RecordCandidate(c.Release, c))
}

// LoadCandidate reads the candidate the test cycle recorded for a release.
func (a *RepoActivities) LoadCandidate(_ context.Context, in ReleaseInput) (Candidate, error) {
	var c Candidate
	err := a.Store.Candidate(in.Release, &c)
	if errors.Is(err, repo.ErrNotFound) {
		return c, invalid(fmt.Sprintf("release %s has no candidate: it has not passed the test cycle's gate and rehearsal "+
			"(`osflow status` shows the gate; only a candidate goes to production)", in.Release))
	}
	return c, classify(err)
}

// PromotionDone reports whether a promotion of in.Release to in.Channel
// completed its outage.
func (a *RepoActivities) PromotionDone(_ context.Context, in PromotionDoneInput) (bool, error) {
	done, err := a.Store.PromotionDone(in.Release, in.Channel)
	return done, classify(err)
}

// RecordPromotion adds a promotion's switch (or its outcome) to the
// release's provenance, once per key and outcome.
func (a *RepoActivities) RecordPromotion(ctx context.Context, in PromotionRecordInput) error {
	defer a.keepAlive(ctx)()
	return classify(a.Store.RecordPromotion(ctx, in.Release, repo.PromotionRecord{
		Key: in.Key, Promotion: in.Promotion, Run: in.Run, Channel: in.Channel, Approver: in.Approver, Comment: in.Comment,
		WindowStart: in.WindowStart, WindowEnd: in.WindowEnd, Time: time.Now().UTC(), Outcome: in.Outcome, Signed: in.Signed,
	}))
}
