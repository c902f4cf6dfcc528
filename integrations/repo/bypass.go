package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// An emergency bypass puts a new snapshot of an overlay on testing and
// production at once. The store keeps, per overlay, the snapshot of its
// last bypass (overlays/<repo>.bypass), and every switch carries it: a
// release whose snapshot of that overlay is older than the bypass is
// switched to as a release derived from it with the bypass snapshot
// instead. So no switch (a daily sync that started before the bypass, a
// promotion of a candidate made before it, a rollback) can take the fix
// away again, and two bypasses, or a bypass and a daily sync, serialise on
// the store's lock: the later switch carries both. Overlays only grow, so
// the newer snapshot of an overlay holds everything the older one held.

// BypassRequest is one bypass: the overlay's new snapshot and the
// channels to put it on, in order.
type BypassRequest struct {
	Overlay  string
	Snapshot string
	Channels []string
	// Bypass names the bypass (its workflow), Key the operation.
	Bypass   string
	Key      string
	Actor    string
	Reason   string
	Packages []string // NEVRAs it brings, for the record
}

// BypassRecord is a bypass as STORE/bypasses.log keeps it.
type BypassRecord struct {
	Time     time.Time `json:"time"`
	Overlay  string    `json:"overlay"`
	Snapshot string    `json:"snapshot"`
	Bypass   string    `json:"bypass"`
	Key      string    `json:"key"`
	Actor    string    `json:"actor"`
	Reason   string    `json:"reason"`
	Packages []string  `json:"packages,omitempty"`
	Switches []Switch  `json:"switches"`
}

// Derivation records that a release is another one with bypassed overlay
// snapshots carried into it: provenance/<release>/derived.json.
type Derivation struct {
	Base    string            `json:"base"`
	Carried map[string]string `json:"carried"` // overlay -> bypass snapshot
	Time    time.Time         `json:"time"`
}

// overlayBypass is the content of overlays/<repo>.bypass.
type overlayBypass struct {
	Snapshot string    `json:"snapshot"`
	Bypass   string    `json:"bypass"`
	Time     time.Time `json:"time"`
}

func (s *Store) bypassPointer(repo string) string { return s.path("overlays", repo+".bypass") }

// ApplyBypass records a bypass of an overlay and switches each channel, in
// order, to the release it serves carrying the bypass, all under the
// store's lock. Frozen channels are switched too, their freeze moved to
// the new release: a security fix does not wait for a test cycle to
// converge. A retry with the same key returns the recorded bypass.
func (s *Store) ApplyBypass(ctx context.Context, req BypassRequest) (BypassRecord, error) {
	fail := func(err error) (BypassRecord, error) {
		return BypassRecord{}, fmt.Errorf("bypass overlay %s: %w", req.Overlay, err)
	}
	if err := CheckRepoName(req.Overlay); err != nil {
		return fail(err)
	}
	if req.Key == "" || req.Actor == "" || req.Reason == "" {
		return fail(fmt.Errorf("a key, an actor and a reason are required: %w", ErrInvalid))
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	log, err := s.Bypasses()
	if err != nil {
		return fail(err)
	}
	for _, b := range log {
		if b.Key == req.Key {
			return b, nil
		}
	}
	snap, err := s.Snapshot(req.Overlay, req.Snapshot)
	if err != nil {
		return fail(err)
	}
	if cur, err := s.lastBypass(req.Overlay); err != nil {
		return fail(err)
	} else if cur == nil || cur.Snapshot != snap.ID {
		b, err := json.Marshal(overlayBypass{Snapshot: snap.ID, Bypass: req.Bypass, Time: time.Now().UTC()})
		if err != nil {
			return fail(err)
		}
		if err := s.writeAtomic(s.bypassPointer(req.Overlay), 0o644, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
			return fail(err)
		}
	}
	rec := BypassRecord{Time: time.Now().UTC(), Overlay: req.Overlay, Snapshot: snap.ID, Bypass: req.Bypass,
		Key: req.Key, Actor: req.Actor, Reason: req.Reason, Packages: req.Packages}
	for _, ch := range req.Channels {
		cur, err := s.linkedRelease(s.channelPath(ch))
		if err != nil {
			return fail(err)
		}
		if cur == "" {
			continue // a channel that serves nothing yet gets the bypass with its first release
		}
		sw, err := s.switchLocked(ctx, SwitchRequest{Channel: ch, Release: cur, Actor: req.Actor,
			Reason: "bypass " + req.Bypass + ": " + req.Reason, Key: req.Key + "/" + ch, ThroughFreeze: true})
		if err != nil {
			return fail(err)
		}
		rec.Switches = append(rec.Switches, sw)
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return fail(err)
	}
	if err := appendLine(s.path("bypasses.log"), line); err != nil {
		return fail(err)
	}
	return rec, nil
}

// Bypasses lists every bypass, oldest first.
func (s *Store) Bypasses() ([]BypassRecord, error) {
	recs, err := readLog[BypassRecord](s.path("bypasses.log"))
	if err != nil {
		return nil, fmt.Errorf("bypasses: %w", err)
	}
	return recs, nil
}

func (s *Store) lastBypass(repo string) (*overlayBypass, error) {
	var b overlayBypass
	err := readJSON(s.bypassPointer(repo), &b)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// carryBypassesLocked returns the release to switch to instead of id:
// id itself, or the release derived from it that carries every overlay's
// last bypass that is newer than id's snapshot of that overlay. The
// caller holds the lock.
func (s *Store) carryBypassesLocked(id string) (string, error) {
	rel, err := s.Release(id)
	if err != nil {
		return "", err
	}
	carried := map[string]string{}
	for _, repo := range slices.Sorted(maps.Keys(rel.Repos)) {
		b, err := s.lastBypass(repo)
		if err != nil || b == nil || b.Snapshot == rel.Repos[repo] {
			if err != nil {
				return "", err
			}
			continue
		}
		have, err := s.Snapshot(repo, rel.Repos[repo])
		if err != nil {
			return "", err
		}
		bypassed, err := s.Snapshot(repo, b.Snapshot)
		if err != nil {
			return "", fmt.Errorf("the last bypass of %s: %w", repo, err)
		}
		if bypassed.CreatedAt.After(have.CreatedAt) {
			carried[repo] = b.Snapshot
		}
	}
	if len(carried) == 0 {
		return id, nil
	}
	repos := maps.Clone(rel.Repos)
	maps.Copy(repos, carried)
	derived, _, err := s.createReleaseLocked(time.Now(), repos)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(s.provenanceDir(derived.ID), 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(s.provenanceDir(derived.ID), "derived.json")
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		if err := s.writeJSON(p, Derivation{Base: id, Carried: carried, Time: time.Now().UTC()}); err != nil {
			return "", err
		}
	}
	return derived.ID, nil
}

// ReleaseBase follows a release's derivations back to the release they
// were made from: the one a test cycle tested. A release never derived is
// its own base.
func (s *Store) ReleaseBase(id string) (string, error) {
	var base string
	err := s.walkDerivations(id, func(r string) error { base = r; return nil })
	return base, err
}

// walkDerivations calls fn for id and then each release it was derived
// from, back to the base.
func (s *Store) walkDerivations(id string, fn func(release string) error) error {
	for range 100 {
		if err := fn(id); err != nil {
			return err
		}
		var d Derivation
		err := readJSON(filepath.Join(s.provenanceDir(id), "derived.json"), &d)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("base of release %s: %w", id, err)
		}
		id = d.Base
	}
	return fmt.Errorf("base of release %s: derivations loop: %w", id, ErrBadContent)
}

// Newest returns the newest package called name for arch in any repo of a
// release, by rpm's version order; nil when the release has none.
func (s *Store) Newest(release, name, arch string) (*Package, error) {
	rel, err := s.Release(release)
	if err != nil {
		return nil, err
	}
	var best *Package
	for repo, snap := range rel.Repos {
		pkgs, err := s.Manifest(repo, snap)
		if err != nil {
			return nil, err
		}
		for i := range pkgs {
			p := &pkgs[i]
			if p.Name == name && p.Arch == arch && (best == nil || compareEVR(*p, *best) > 0) {
				best = p
			}
		}
	}
	return best, nil
}

// BypassesSincePromotion lists the bypasses made after the last promotion
// of what a channel serves (following derivations back to the promoted
// release): the fixes that reached the channel without a test cycle.
// With no promotion on record, every bypass is listed.
func (s *Store) BypassesSincePromotion(channel string) ([]BypassRecord, error) {
	all, err := s.Bypasses()
	if err != nil || len(all) == 0 {
		return nil, err
	}
	id, err := s.Channel(channel)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	var since time.Time
	if id != "" {
		err := s.walkDerivations(id, func(r string) error {
			recs, err := s.Promotions(r)
			for _, p := range recs {
				if p.Time.After(since) {
					since = p.Time
				}
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	var out []BypassRecord
	for _, b := range all {
		if b.Time.After(since) {
			out = append(out, b)
		}
	}
	return out, nil
}
