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
	f, err := os.Open(s.channelPath(channel) + ".log")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history of channel %s: %w", channel, err)
	}
	defer f.Close()
	var log []Switch
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var sw Switch
		if err := json.Unmarshal(sc.Bytes(), &sw); err != nil {
			return nil, fmt.Errorf("history of channel %s: entry %d: %w", channel, len(log)+1, err)
		}
		log = append(log, sw)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("history of channel %s: %w", channel, err)
	}
	return log, nil
}

// Switch points channel at release with one rename(2), keeps the former
// target as <channel>.prev and appends to the audit log. Switching to the
// current release is a no-op that returns the last audit entry.
//
// Actor and reason are required: an audit entry that cannot say who and why
// is worthless.
func (s *Store) Switch(ctx context.Context, channel, release, actor, reason string) (Switch, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return Switch{}, fmt.Errorf("switch channel %s to %s: %w", channel, release, err)
	}
	defer unlock()
	return s.switchLocked(ctx, channel, release, actor, reason)
}

func (s *Store) switchLocked(ctx context.Context, channel, release, actor, reason string) (Switch, error) {
	fail := func(err error) (Switch, error) {
		return Switch{}, fmt.Errorf("switch channel %s to %s: %w", channel, release, err)
	}
	if err := CheckChannelName(channel); err != nil {
		return fail(err)
	}
	if strings.TrimSpace(actor) == "" || strings.TrimSpace(reason) == "" {
		return fail(fmt.Errorf("actor and reason are required: %w", ErrInvalid))
	}
	if _, err := s.Release(release); err != nil {
		return fail(err)
	}
	cur, err := s.linkedRelease(s.channelPath(channel))
	if err != nil {
		return fail(err)
	}
	if cur == release {
		log, err := s.History(channel)
		if err != nil {
			return fail(err)
		}
		if len(log) > 0 && log[len(log)-1].To == release {
			return log[len(log)-1], nil
		}
		return Switch{Channel: channel, From: release, To: release}, nil
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if fz, err := s.Frozen(channel); err != nil {
		return fail(err)
	} else if fz != nil {
		return fail(fmt.Errorf("%w by %s since %s (%s); `osflow unfreeze` releases it",
			ErrFrozen, fz.Actor, fz.Time.Format(time.RFC3339), fz.Reason))
	}
	link := s.channelPath(channel)
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
	sw := Switch{Time: time.Now().UTC(), Channel: channel, Actor: actor, Reason: reason, From: cur, To: release}
	if err := appendLog(link+".log", sw); err != nil {
		return fail(err)
	}
	return sw, nil
}

func appendLog(p string, v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("audit log %s: %w", p, err)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit log %s: %w", p, err)
	}
	return nil
}

// Rollback switches channel back to a release it served before. An empty
// to means the release the channel pointed at before its current one; an
// explicit to must appear in the channel's log. Reason is required.
func (s *Store) Rollback(ctx context.Context, channel, to, actor, reason string) (Switch, error) {
	fail := func(err error) (Switch, error) {
		return Switch{}, fmt.Errorf("roll back channel %s: %w", channel, err)
	}
	if err := CheckChannelName(channel); err != nil {
		return fail(err)
	}
	if strings.TrimSpace(reason) == "" {
		return fail(fmt.Errorf("a reason is required: %w", ErrInvalid))
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	cur, err := s.linkedRelease(s.channelPath(channel))
	if err != nil {
		return fail(err)
	}
	log, err := s.History(channel)
	if err != nil {
		return fail(err)
	}
	served := servedReleases(log)
	if to == "" {
		to = previousRelease(log, cur)
		if to == "" {
			return fail(fmt.Errorf("current release %q has no predecessor in the log: %w", cur, ErrInvalid))
		}
	}
	if !slices.Contains(served, to) {
		return fail(fmt.Errorf("%s was never served by this channel; choose one of %s: %w",
			to, strings.Join(served, ", "), ErrInvalid))
	}
	return s.switchLocked(ctx, channel, to, actor, reason)
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
		if log[i].To == cur {
			return log[i].From
		}
	}
	return ""
}
