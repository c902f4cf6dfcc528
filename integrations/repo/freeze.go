package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Freeze records who holds a channel at which release, and why.
type Freeze struct {
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Reason  string    `json:"reason"`
	Release string    `json:"release,omitempty"`
	// Key is the operation that took the freeze; an unfreeze can be made
	// conditional on it (see FreezeRequest.IfKey).
	Key string `json:"key,omitempty"`
}

// FreezeRequest freezes a channel at a release, or releases it.
type FreezeRequest struct {
	Channel string
	Frozen  bool
	// Release is the release the channel must serve for a freeze to apply:
	// a freeze holds an absolute release, never "whatever is current".
	Release string
	Actor   string
	Reason  string
	// Key names the operation, recorded in the audit log: a retry with the
	// same key returns the recorded outcome.
	Key string
	// IfKey makes an unfreeze release only the freeze that operation IfKey
	// took: a rehearsal lets go of its own freeze, never an operator's.
	IfKey string
}

// Frozen returns the channel's freeze, or nil when it may be switched.
func (s *Store) Frozen(channel string) (*Freeze, error) {
	if err := CheckChannelName(channel); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.channelPath(channel) + ".freeze")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read freeze of channel %s: %w", channel, err)
	}
	var fz Freeze
	if err := json.Unmarshal(b, &fz); err != nil {
		return nil, fmt.Errorf("channel %s: corrupt freeze record: %w", channel, err)
	}
	return &fz, nil
}

// SetFreeze freezes or releases a channel and returns the freeze in force
// afterwards (nil: not frozen). While frozen, Switch and Rollback refuse to
// move the channel, so a daily sync cannot change the release the test
// cycle is converging on. A freeze of a frozen channel at the same release
// takes the freeze over (new holder, reason and key). Freezes and
// unfreezes are written to the channel's audit log.
func (s *Store) SetFreeze(ctx context.Context, req FreezeRequest) (*Freeze, error) {
	verb := "freeze"
	if !req.Frozen {
		verb = "unfreeze"
	}
	fail := func(err error) (*Freeze, error) {
		return nil, fmt.Errorf("%s channel %s: %w", verb, req.Channel, err)
	}
	if err := CheckChannelName(req.Channel); err != nil {
		return fail(err)
	}
	if strings.TrimSpace(req.Actor) == "" || strings.TrimSpace(req.Reason) == "" {
		return fail(fmt.Errorf("actor and reason are required: %w", ErrInvalid))
	}
	if req.Frozen && req.Release == "" {
		return fail(fmt.Errorf("a freeze names the release it holds: %w", ErrInvalid))
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	link := s.channelPath(req.Channel)
	log, err := s.settledLog(req.Channel)
	if err != nil {
		return fail(err)
	}
	if done, ok := recordedIn(log, req.Key); ok {
		if done.Outcome != verb {
			return fail(fmt.Errorf("operation %s was a %s, not a %s: %w", req.Key, done.Outcome, verb, ErrInvalid))
		}
		if done.Outcome == OutcomeUnfreeze {
			return s.Frozen(req.Channel)
		}
		return &Freeze{Time: done.Time, Actor: done.Actor, Reason: done.Reason, Release: done.To, Key: done.Key}, nil
	}
	cur, err := s.linkedRelease(link)
	if err != nil {
		return fail(err)
	}
	held, err := s.Frozen(req.Channel)
	if err != nil {
		return fail(err)
	}
	// Two durable steps, the record and the log entry: an intent first,
	// as for a switch, so that a crash between them is recorded by the
	// retry or the next writer (settledLog) rather than lost.
	intent := Switch{Time: time.Now().UTC(), Channel: req.Channel, Actor: req.Actor, Reason: req.Reason,
		From: cur, To: cur, Key: req.Key, Outcome: OutcomeIntent, Intent: verb}
	if !req.Frozen && (held == nil || (req.IfKey != "" && held.Key != req.IfKey)) {
		return held, nil // nothing of ours to release
	}
	if req.Frozen && cur != req.Release {
		return fail(fmt.Errorf("it serves %s, not %s; nothing was frozen: %w", orNone(cur), req.Release, ErrInvalid))
	}
	if own, ok := ownIntent(log, req.Key, verb); ok && own.To == cur {
		intent = own // the first attempt stopped before its change
	} else if err := s.logIntent(link, intent, atFreezeIntent); err != nil {
		return fail(err)
	}
	var fz *Freeze
	if req.Frozen {
		fz = &Freeze{Time: intent.Time, Actor: intent.Actor, Reason: intent.Reason, Release: cur, Key: intent.Key}
		err = s.writeFreeze(link, *fz)
	} else if err = os.Remove(link + ".freeze"); errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if err == nil {
		err = syncDir(s.path("channels"))
	}
	if err == nil {
		err = s.reached(atFreezeRecord)
	}
	if err == nil {
		_, err = s.logOutcome(link, intent, atFreezeLog)
	}
	if err != nil {
		return fail(err)
	}
	return fz, nil
}

// freezeDone reports whether the change a freeze or unfreeze intent
// announced is in the store: its own freeze written, or the freeze gone
// (an unfreeze intent is logged only while a freeze is held).
func freezeDone(intent Switch, fz *Freeze) bool {
	if intent.Intent == OutcomeUnfreeze {
		return fz == nil
	}
	return fz != nil && fz.Key == intent.Key && fz.Time.Equal(intent.Time) && fz.Actor == intent.Actor
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// writeFreeze records the freeze of the channel whose link is link.
func (s *Store) writeFreeze(link string, fz Freeze) error {
	b, err := json.Marshal(fz)
	if err != nil {
		return err
	}
	return s.writeAtomic(link+".freeze", 0o644, func(w io.Writer) error { _, err := w.Write(b); return err })
}
