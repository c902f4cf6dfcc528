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

// Freeze records who holds a channel at its current release, and why.
type Freeze struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
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

// SetFreeze freezes or releases a channel. While frozen, Switch and
// Rollback refuse to move it, so a daily sync cannot change the release
// the test cycle is converging on. Setting the state it already has is a
// no-op, so a retried call is harmless.
func (s *Store) SetFreeze(ctx context.Context, channel string, frozen bool, actor, reason string) error {
	if err := CheckChannelName(channel); err != nil {
		return err
	}
	if frozen && (strings.TrimSpace(actor) == "" || strings.TrimSpace(reason) == "") {
		return fmt.Errorf("freeze channel %s: actor and reason are required: %w", channel, ErrInvalid)
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return fmt.Errorf("freeze channel %s: %w", channel, err)
	}
	defer unlock()
	p := s.channelPath(channel) + ".freeze"
	if !frozen {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("unfreeze channel %s: %w", channel, err)
		}
		return nil
	}
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	b, err := json.Marshal(Freeze{Time: time.Now().UTC(), Actor: actor, Reason: reason})
	if err != nil {
		return err
	}
	return s.writeAtomic(p, 0o644, func(w io.Writer) error { _, err := w.Write(b); return err })
}
