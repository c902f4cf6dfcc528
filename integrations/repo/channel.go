package repo

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

func (s *Store) channelPath(name string) string { return s.path("channels", name) }

// releaseLink is the relative target under channels/ for release id, so
// the store can be moved or served from another mount point.
func releaseLink(id string) string { return path.Join("..", "releases", id) }

// linkedRelease reads the release a channel-side symlink points at; "" if
// the link does not exist.
func (s *Store) linkedRelease(link string) (string, error) {
	target, err := os.Readlink(link)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", link, err)
	}
	id, ok := strings.CutPrefix(target, "../releases/")
	if !ok || checkReleaseID(id) != nil {
		return "", fmt.Errorf("%s points at %q, not at a release: %w", link, target, ErrBadContent)
	}
	return id, nil
}

// Channel returns the release a channel points at, or "" with a nil error
// if it has never been switched.
func (s *Store) Channel(name string) (release string, err error) {
	if err := CheckChannelName(name); err != nil {
		return "", err
	}
	rel, err := s.linkedRelease(s.channelPath(name))
	if err != nil {
		return "", fmt.Errorf("channel %s: %w", name, err)
	}
	return rel, nil
}

// Channels maps every channel that has been switched at least once to its
// current release.
func (s *Store) Channels() (map[string]string, error) {
	entries, err := os.ReadDir(s.path("channels"))
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	chans := make(map[string]string)
	for _, e := range entries {
		// .prev, .log and staging names all contain a dot, which a channel
		// name cannot.
		if e.Type() != os.ModeSymlink || CheckChannelName(e.Name()) != nil {
			continue
		}
		rel, err := s.Channel(e.Name())
		if err != nil {
			return nil, err
		}
		chans[e.Name()] = rel
	}
	return chans, nil
}

// channelNames lists every channel that left any trace in channels/: its
// link, its .prev or its log. GC must not trust the link alone, or a
// channel whose link someone removed by hand would lose its rollback
// targets.
func (s *Store) channelNames() ([]string, error) {
	entries, err := os.ReadDir(s.path("channels"))
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	var names []string
	for _, e := range entries {
		name := strings.TrimSuffix(strings.TrimSuffix(e.Name(), ".prev"), ".log")
		if CheckChannelName(name) == nil && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names, nil
}

// History returns a channel's audit log, oldest first; empty if it has
// never been switched.
func (s *Store) History(channel string) ([]Switch, error) {
	if err := CheckChannelName(channel); err != nil {
		return nil, err
	}
	log, err := readLog[Switch](s.channelPath(channel) + ".log")
	if err != nil {
		return nil, fmt.Errorf("history of channel %s: %w", channel, err)
	}
	return log, nil
}

// readLog reads an append-only log of JSON lines; a missing log is empty.
func readLog[T any](p string) ([]T, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var log []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var e T
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("entry %d: %w", len(log)+1, err)
		}
		log = append(log, e)
	}
	return log, sc.Err()
}

// SwitchRequest asks for one channel switch: an absolute target, who and
// why, and the operation key that makes a retry safe.
type SwitchRequest struct {
	Channel string
	Release string
	Actor   string
	Reason  string
	// Key names the operation (a workflow run and step). It is recorded
	// in the audit log with the outcome, and a request whose key the log
	// already holds returns that entry instead of acting again. Empty
	// means unkeyed: only a real switch is logged.
	Key string
	// ThroughFreeze switches a frozen channel too and moves its freeze to
	// the new release: only an emergency bypass asks for it.
	ThroughFreeze bool
}

// Switch points a channel at a release with one rename(2), keeps the
// former target as <channel>.prev and appends to the audit log.
//
// The outcome is in the returned entry: OutcomeSwitched, OutcomeUnchanged
// when the channel already served the release, or OutcomeFrozen, returned
// with an error wrapping ErrFrozen, when the channel is frozen and stayed.
// A keyed request logs every outcome, so that its retry, even after the
// channel moved on or was unfrozen, returns what happened the first time.
//
// Actor and reason are required: an audit entry that cannot say who and
// why is worthless.
func (s *Store) Switch(ctx context.Context, req SwitchRequest) (Switch, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return Switch{}, fmt.Errorf("switch channel %s to %s: %w", req.Channel, req.Release, err)
	}
	defer unlock()
	return s.switchLocked(ctx, req)
}

func (s *Store) switchLocked(ctx context.Context, req SwitchRequest) (Switch, error) {
	channel, release := req.Channel, req.Release
	fail := func(err error) (Switch, error) {
		return Switch{}, fmt.Errorf("switch channel %s to %s: %w", channel, release, err)
	}
	if err := CheckChannelName(channel); err != nil {
		return fail(err)
	}
	if strings.TrimSpace(req.Actor) == "" || strings.TrimSpace(req.Reason) == "" {
		return fail(fmt.Errorf("actor and reason are required: %w", ErrInvalid))
	}
	if done, ok, err := s.recorded(channel, req.Key); err != nil {
		return fail(err)
	} else if ok {
		return answer(done, req)
	}
	if _, err := s.Release(release); err != nil {
		return fail(err)
	}
	// No switch takes an overlay back behind its last bypass.
	carried, err := s.carryBypassesLocked(release)
	if err != nil {
		return fail(err)
	}
	cur, err := s.linkedRelease(s.channelPath(channel))
	if err != nil {
		return fail(err)
	}
	link := s.channelPath(channel)
	entry := Switch{Time: time.Now().UTC(), Channel: channel, Actor: req.Actor, Reason: req.Reason,
		From: cur, To: cur, Key: req.Key}
	if carried != release {
		entry.Requested = release
		release = carried
	}
	if cur == release {
		entry.Outcome = OutcomeUnchanged
		return entry, s.logKeyed(link, entry)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	fz, err := s.Frozen(channel)
	if err != nil {
		return fail(err)
	}
	if fz != nil && !req.ThroughFreeze {
		entry.Outcome, entry.Requested = OutcomeFrozen, req.Release
		if err := s.logKeyed(link, entry); err != nil {
			return fail(err)
		}
		return entry, fmt.Errorf("switch channel %s to %s: %w by %s since %s (%s); `osflow unfreeze` releases it",
			channel, release, ErrFrozen, fz.Actor, fz.Time.Format(time.RFC3339), fz.Reason)
	}
	if cur != "" {
		// .prev moves first: once the channel moves, a client holding the
		// old repomd.xml must already find its files through .prev.
		if err := s.symlinkAtomic(releaseLink(cur), link+".prev"); err != nil {
			return fail(err)
		}
	}
	if err := s.symlinkAtomic(releaseLink(release), link); err != nil {
		return fail(err)
	}
	if err := syncDir(s.path("channels")); err != nil {
		return fail(err)
	}
	// Logged after the rename: the log then never claims a switch that did
	// not happen, and a crash in between shows up as a From that differs
	// from the previous To. This order costs a second fsync: only a
	// journal orders the two writes by itself, and the store may live on
	// a filesystem without one (ext4 without a journal writes the
	// directory and the log independently, each with its own flush).
	entry.To, entry.Outcome = release, OutcomeSwitched
	if fz != nil {
		// Switched through the freeze: it now holds the new release.
		fz.Release = release
		entry.Reason += fmt.Sprintf(" (through the freeze by %s)", fz.Actor)
		if err := s.writeFreeze(link, *fz); err != nil {
			return fail(err)
		}
	}
	if err := appendLog(link+".log", entry); err != nil {
		return fail(err)
	}
	return entry, nil
}

// recorded finds the audit entry of operation key, if the channel's log
// has one. An empty key is never recorded.
func (s *Store) recorded(channel, key string) (Switch, bool, error) {
	if key == "" {
		return Switch{}, false, nil
	}
	log, err := s.History(channel)
	if err != nil {
		return Switch{}, false, err
	}
	for i := len(log) - 1; i >= 0; i-- {
		if log[i].Key == key {
			return log[i], true, nil
		}
	}
	return Switch{}, false, nil
}

// answer returns a recorded outcome to the retry of its operation, as
// the first attempt returned it.
func answer(done Switch, req SwitchRequest) (Switch, error) {
	if !slices.Contains([]string{"", OutcomeSwitched, OutcomeUnchanged, OutcomeFrozen}, done.Outcome) {
		return Switch{}, fmt.Errorf("switch channel %s: operation %s was a %s, not a switch: %w",
			req.Channel, req.Key, done.Outcome, ErrInvalid)
	}
	target := done.To
	if done.Requested != "" {
		target = done.Requested // asked for, then frozen or carried a bypass
	}
	if target != req.Release {
		return Switch{}, fmt.Errorf("switch channel %s to %s: operation %s already switched it to %s: %w",
			req.Channel, req.Release, req.Key, target, ErrInvalid)
	}
	if done.Outcome == OutcomeFrozen {
		return done, fmt.Errorf("switch channel %s to %s: %w (recorded outcome of operation %s)",
			req.Channel, req.Release, ErrFrozen, req.Key)
	}
	return done, nil
}

// logKeyed records an outcome that moved nothing; only a keyed operation
// needs it, to answer its own retry.
func (s *Store) logKeyed(link string, entry Switch) error {
	if entry.Key == "" {
		return nil
	}
	return appendLog(link+".log", entry)
}

func appendLog(p string, v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return appendLine(p, line)
}

// appendLine appends one line to an append-only log and syncs it.
func appendLine(p string, line []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("log %s: %w", p, err)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("log %s: %w", p, err)
	}
	return nil
}

// Rollback switches a channel back to a release it served before. The
// target is absolute: a relative "the one before" is resolved once, by
// PreviousRelease, by whoever decides the rollback, so that a retried
// rollback cannot resolve it again against the channel it already moved.
func (s *Store) Rollback(ctx context.Context, req SwitchRequest) (Switch, error) {
	fail := func(err error) (Switch, error) {
		return Switch{}, fmt.Errorf("roll back channel %s: %w", req.Channel, err)
	}
	if err := CheckChannelName(req.Channel); err != nil {
		return fail(err)
	}
	if strings.TrimSpace(req.Reason) == "" {
		return fail(fmt.Errorf("a reason is required: %w", ErrInvalid))
	}
	if req.Release == "" {
		return fail(fmt.Errorf("no target release: resolve it with PreviousRelease first: %w", ErrInvalid))
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	if _, ok, err := s.recorded(req.Channel, req.Key); err != nil {
		return fail(err)
	} else if ok {
		// Answered from the log, with the error a frozen outcome carries.
		return s.switchLocked(ctx, req)
	}
	log, err := s.History(req.Channel)
	if err != nil {
		return fail(err)
	}
	served := servedReleases(log)
	if !slices.Contains(served, req.Release) {
		return fail(fmt.Errorf("%s was never served by this channel; choose one of %s: %w",
			req.Release, strings.Join(served, ", "), ErrInvalid))
	}
	return s.switchLocked(ctx, req)
}

// PreviousRelease is the release a channel served before its current one:
// the absolute target of "roll back one". It fails when there is none.
func (s *Store) PreviousRelease(channel string) (current, previous string, err error) {
	if current, err = s.Channel(channel); err != nil {
		return "", "", err
	}
	log, err := s.History(channel)
	if err != nil {
		return "", "", err
	}
	previous = previousRelease(log, current)
	if previous == "" {
		return current, "", fmt.Errorf("channel %s: current release %q has no predecessor in the log: %w", channel, current, ErrInvalid)
	}
	return current, previous, nil
}

// servedReleases lists, sorted, every release a channel's log shows it
// pointing at.
func servedReleases(log []Switch) []string {
	var ids []string
	for _, sw := range log {
		for _, id := range []string{sw.From, sw.To} {
			if id != "" && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// previousRelease is the release the channel was switched away from when it
// last became cur.
func previousRelease(log []Switch, cur string) string {
	for i := len(log) - 1; i >= 0; i-- {
		if log[i].To == cur && log[i].Moved() {
			return log[i].From
		}
	}
	return ""
}
