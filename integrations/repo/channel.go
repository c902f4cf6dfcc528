package repo

import (
	"bytes"
	"cmp"
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
// never been switched. Intent lines are left out: each either was
// completed by an entry of its own or changed nothing (see settle).
func (s *Store) History(channel string) ([]Switch, error) {
	if err := CheckChannelName(channel); err != nil {
		return nil, err
	}
	log, err := s.channelLog(channel)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(log, isIntent), nil
}

func isIntent(sw Switch) bool { return sw.Outcome == OutcomeIntent }

// channelLog is the channel's log as written, intent lines included.
func (s *Store) channelLog(channel string) ([]Switch, error) {
	log, err := readLog[Switch](s.channelPath(channel) + ".log")
	if err != nil {
		return nil, fmt.Errorf("history of channel %s: %w", channel, err)
	}
	return log, nil
}

// readLog reads an append-only log of JSON lines; a missing log is empty.
// A last line that has no newline and does not parse is what a crash in
// the middle of an append leaves: it never was a record, so it is left
// out, and the next append cuts it off (appendLine). Any other line that
// does not parse is damage, an error naming the file and the line.
func readLog[T any](p string) ([]T, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lines := bytes.Split(b, []byte{'\n'})
	var log []T
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e T
		if err := json.Unmarshal(line, &e); err != nil {
			if i == len(lines)-1 {
				break // torn: no newline after it
			}
			return nil, fmt.Errorf("%s line %d: %w: %w", p, i+1, ErrBadContent, err)
		}
		log = append(log, e)
	}
	return log, nil
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
	// Kind is recorded in the entry (Switch.Kind); Rollback sets
	// KindRollback.
	Kind string
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
	log, err := s.settledLog(channel)
	if err != nil {
		return fail(err)
	}
	if done, ok := recordedIn(log, req.Key); ok {
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
		From: cur, To: cur, Key: req.Key, Kind: req.Kind}
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
	if fz != nil {
		entry.Reason += fmt.Sprintf(" (through the freeze by %s)", fz.Actor)
	}
	// The intent, with the absolute target, is logged before the rename:
	// whatever a crash interrupts, the log names the switch that may have
	// happened, and the link says whether it did. A retry whose first
	// attempt logged it and stopped before the rename goes on from it.
	entry.To, entry.Outcome, entry.Intent = release, OutcomeIntent, OutcomeSwitched
	if own, ok := ownIntent(log, req.Key, OutcomeSwitched); ok && own.From == cur && own.To == release {
		entry = own
	} else if err := s.logIntent(link, entry, atSwitchIntent); err != nil {
		return fail(err)
	}
	done, err := s.finishSwitch(link, entry)
	if err != nil {
		return fail(err)
	}
	return done, nil
}

// finishSwitch carries out the switch whose intent is logged, from where
// an earlier attempt stopped, and records its outcome. The log entry comes
// after the rename and its fsync, so it never claims a switch that did not
// happen; the intent before them is what lets a retry tell a rename it
// made from one it did not.
func (s *Store) finishSwitch(link string, intent Switch) (Switch, error) {
	cur, err := s.linkedRelease(link)
	if err != nil {
		return Switch{}, err
	}
	if cur != intent.To {
		if intent.From != "" {
			// .prev moves first: once the channel moves, a client holding
			// the old repomd.xml must already find its files through .prev.
			if err := s.symlinkAtomic(releaseLink(intent.From), link+".prev"); err != nil {
				return Switch{}, err
			}
			if err := s.reached(atSwitchPrev); err != nil {
				return Switch{}, err
			}
		}
		if err := s.symlinkAtomic(releaseLink(intent.To), link); err != nil {
			return Switch{}, err
		}
		if err := s.reached(atSwitchLink); err != nil {
			return Switch{}, err
		}
	}
	if err := syncDir(s.path("channels")); err != nil {
		return Switch{}, err
	}
	if err := s.reached(atSwitchDirSync); err != nil {
		return Switch{}, err
	}
	// A frozen channel moved only through its freeze (ThroughFreeze): the
	// freeze now holds the new release.
	fz, err := s.Frozen(intent.Channel)
	if err != nil {
		return Switch{}, err
	}
	if fz != nil && fz.Release != intent.To {
		fz.Release = intent.To
		if err := s.writeFreeze(link, *fz); err != nil {
			return Switch{}, err
		}
		if err := s.reached(atSwitchFreeze); err != nil {
			return Switch{}, err
		}
	}
	return s.logOutcome(link, intent, atSwitchLog)
}

// logIntent appends an intent line before an operation's first durable
// change.
func (s *Store) logIntent(link string, intent Switch, at crashPoint) error {
	if err := appendLog(link+".log", intent); err != nil {
		return err
	}
	return s.reached(at)
}

// logOutcome appends the entry that completes intent.
func (s *Store) logOutcome(link string, intent Switch, at crashPoint) (Switch, error) {
	done := intent
	done.Outcome, done.Intent = intent.Intent, ""
	if err := appendLog(link+".log", done); err != nil {
		return Switch{}, err
	}
	return done, s.reached(at)
}

// settledLog reads a channel's log after recording the operation a crash
// interrupted between its durable change and its log entry. Every writer
// of the log holds the store's lock and settles first, so only the last
// line can be an unsettled intent: if the store shows its change (the
// link at its target, the freeze written or gone), the change is recorded
// now; if not, it never happened and the intent stays a dead line, which
// the next entry leaves behind.
func (s *Store) settledLog(channel string) ([]Switch, error) {
	log, err := s.channelLog(channel)
	if err != nil || len(log) == 0 || !isIntent(log[len(log)-1]) {
		return log, err
	}
	intent, link := log[len(log)-1], s.channelPath(channel)
	var done Switch
	switch intent.Intent {
	case OutcomeSwitched:
		cur, err := s.linkedRelease(link)
		if err != nil || cur != intent.To {
			return log, err
		}
		done, err = s.finishSwitch(link, intent)
		if err != nil {
			return nil, fmt.Errorf("complete the interrupted switch of channel %s to %s: %w", channel, intent.To, err)
		}
	case OutcomeFreeze, OutcomeUnfreeze:
		fz, err := s.Frozen(channel)
		if err != nil || !freezeDone(intent, fz) {
			return log, err
		}
		done, err = s.logOutcome(link, intent, atFreezeLog)
		if err != nil {
			return nil, fmt.Errorf("complete the interrupted %s of channel %s: %w", intent.Intent, channel, err)
		}
	default:
		return nil, fmt.Errorf("%s.log: intent of an unknown operation %q: %w", link, intent.Intent, ErrBadContent)
	}
	return append(log, done), nil
}

// ownIntent is the intent the first attempt of operation key left as the
// log's last line, if it stopped before its change.
func ownIntent(log []Switch, key, outcome string) (Switch, bool) {
	if key == "" || len(log) == 0 {
		return Switch{}, false
	}
	last := log[len(log)-1]
	return last, isIntent(last) && last.Key == key && last.Intent == outcome
}

// recordedIn finds the audit entry of operation key in a settled log. An
// empty key is never recorded.
func recordedIn(log []Switch, key string) (Switch, bool) {
	if key == "" {
		return Switch{}, false
	}
	for i := len(log) - 1; i >= 0; i-- {
		if log[i].Key == key && !isIntent(log[i]) {
			return log[i], true
		}
	}
	return Switch{}, false
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
	// A retry may also name where the switch took the channel: a bypass
	// asks each channel for "what it serves now", which after its first
	// attempt is the release that attempt carried the bypass into.
	if target != req.Release && !(done.Outcome == OutcomeSwitched && done.To == req.Release) {
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

// appendLine appends one line to an append-only log and syncs it. A last
// line a crash tore (no newline) is cut off first, so that the new line
// starts fresh and the log holds no damage in its middle; one that is
// whole JSON and lacks only its newline gets the newline.
func appendLine(p string, line []byte) error {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("log %s: %w", p, err)
	}
	err = mendTail(f)
	if err == nil {
		_, err = f.Write(append(line, '\n'))
	}
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

// mendTail makes f, a log opened for appending, end with a newline.
func mendTail(f *os.File) error {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return err
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], fi.Size()-1); err != nil || last[0] == '\n' {
		return err
	}
	// Rare (only after a crash), so the whole log is read.
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return err
	}
	start := bytes.LastIndexByte(b, '\n') + 1
	if json.Valid(b[start:]) {
		_, err = f.Write([]byte{'\n'})
		return err
	}
	return f.Truncate(int64(start))
}

// Rollback switches a channel back to a release it served before. The
// target is absolute: a relative "the one before" is resolved once, by
// PreviousRelease, by whoever decides the rollback, so that a retried
// rollback cannot resolve it again against the channel it already moved.
// The entry is marked KindRollback: PreviousRelease pops it.
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
	req.Kind = cmp.Or(req.Kind, KindRollback)
	unlock, err := s.lock(ctx)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	log, err := s.settledLog(req.Channel)
	if err != nil {
		return fail(err)
	}
	if _, ok := recordedIn(log, req.Key); ok {
		// Answered from the log, with the error a frozen outcome carries.
		return s.switchLocked(ctx, req)
	}
	served := servedReleases(slices.DeleteFunc(log, isIntent))
	if !slices.Contains(served, req.Release) {
		return fail(fmt.Errorf("%s was never served by this channel; choose one of %s: %w",
			req.Release, strings.Join(served, ", "), ErrInvalid))
	}
	return s.switchLocked(ctx, req)
}

// PreviousRelease is the absolute target of "roll back one": where the
// channel was before the switch that brought it to its current release,
// reading the log as a stack in which a rollback pops (so after A->B and
// a rollback B->A, it is what came before A, never B again). It fails when
// there is none.
func (s *Store) PreviousRelease(channel string) (current, previous string, err error) {
	if current, err = s.Channel(channel); err != nil {
		return "", "", err
	}
	log, err := s.channelLog(channel)
	if err != nil {
		return "", "", err
	}
	// A switch interrupted after its rename is recorded by the next
	// writer; read it as recorded already.
	if n := len(log); n > 0 && isIntent(log[n-1]) && log[n-1].Intent == OutcomeSwitched && log[n-1].To == current {
		log[n-1].Outcome = OutcomeSwitched
	}
	logged, stack := rollbackStack(slices.DeleteFunc(log, isIntent))
	if logged != current {
		return current, "", fmt.Errorf("channel %s serves %s, but its log says %s: %w", channel, orNone(current), orNone(logged), ErrBadContent)
	}
	if len(stack) == 0 {
		return current, "", fmt.Errorf("channel %s: current release %q has no predecessor in the log: %w", channel, current, ErrInvalid)
	}
	return current, stack[len(stack)-1], nil
}

// rollbackStack replays a channel's log: cur is where it ends, and stack
// the releases a rollback would go back through, newest last. A switch
// pushes the release it left; a rollback pops down to its target (a
// target the stack does not hold is a move like any other); a plain
// switch back to the release just left pops it too.
func rollbackStack(log []Switch) (cur string, stack []string) {
	for _, sw := range log {
		if !sw.Moved() {
			continue
		}
		switch i := slices.Index(stack, sw.To); {
		case i >= 0 && (sw.rollback() || i == len(stack)-1):
			stack = stack[:i]
		case sw.From != "":
			stack = append(stack, sw.From)
		}
		cur = sw.To
	}
	return cur, stack
}

// rollback reports whether the entry is a rollback; entries written
// before Kind existed are known by the step name every rollback workflow
// keys them with.
func (s Switch) rollback() bool {
	return s.Kind == KindRollback || (s.Kind == "" && strings.Contains(s.Key, "/rollback-"))
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
