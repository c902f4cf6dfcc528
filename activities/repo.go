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
// resumes: files that reached the pool are not downloaded again.
func (a *RepoActivities) SyncRepo(ctx context.Context, in SyncRepoInput) (RepoSync, error) {
	rc, ok := a.Config.Repo(in.Repo)
	if !ok {
		return RepoSync{}, invalid(fmt.Sprintf("repo %q is not in the worker's configuration %s", in.Repo, a.Config.Path))
	}
	src, err := a.source(ctx, rc)
	if err != nil {
		return RepoSync{}, classify(err)
	}

	var mu sync.Mutex
	last := SyncProgress{Repo: in.Repo, Stage: "starting"}
	every := a.HeartbeatEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	stop := heartbeatEvery(ctx, every, func() any { mu.Lock(); defer mu.Unlock(); return last })
	defer stop()
	res, err := a.Mirror.Sync(ctx, src, func(p mirror.Progress) {
		mu.Lock()
		last = SyncProgress(p)
		mu.Unlock()
		activity.RecordHeartbeat(ctx, SyncProgress(p))
	})
	if err != nil {
		return RepoSync{}, classify(fmt.Errorf("sync repo %s from %s: %w", in.Repo, src.URL, err))
	}
	return RepoSync{
		Repo:            in.Repo,
		Snapshot:        res.Snapshot.ID,
		Changed:         res.Changed,
		Packages:        res.Snapshot.Packages,
		Downloaded:      res.Downloaded,
		DownloadedBytes: res.DownloadedBytes,
	}, nil
}

// source resolves a configured repo to what the mirror reads: an overlay is
// first indexed with createrepo_c and then mirrored from disk like any repo.
func (a *RepoActivities) source(ctx context.Context, rc config.Repo) (mirror.Source, error) {
	src := mirror.Source{Repo: rc.Name, URL: rc.URL, RequireSignature: rc.RequiresSignature()}
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
	st := ChannelState{Channel: in.Channel, Release: rel}
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
	sum := DiffSummary{From: in.From, To: in.To}
	d, err := a.Store.DiffReleases(in.From, in.To)
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
