package repo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/osflow/osflow/internal/approvalsig"
)

// An emergency bypass puts named packages of an overlay on testing and
// production at once: each channel gets the release it serves with its
// snapshot of the overlay plus those packages, nothing else of the
// overlay, and every later switch carries them (see carry.go).
//
// A bypass is planned once: before its first switch, an intent keyed by
// the operation (overlays/.bypass-<hash>.intent) records the packages and
// each channel's From and absolute To. A retry after any partial attempt
// completes that plan, and the bypass is recorded in bypasses.log exactly
// once, with switches that say what happened.

// BypassRequest is one bypass: the packages and the channels to put them
// on, in order.
type BypassRequest struct {
	Overlay string
	// Snapshot is a snapshot of the overlay holding the packages: they
	// are taken (with their pool checksums) from its manifest, and
	// nothing else of it.
	Snapshot string
	Channels []string
	// Bypass names the bypass (its workflow), Key the operation.
	Bypass   string
	Key      string
	Actor    string
	Reason   string
	Packages []string // NEVRAs of the packages, as Snapshot's manifest has them
	// Signed is the bypass's signed approval, recorded with it.
	Signed *approvalsig.Signed
	// Crash, set by tests only, is called after each durable step with
	// its name (intent, carry, switch <channel>, record); an error stops
	// the bypass there, as a killed worker would.
	Crash func(point string) error `json:"-"`
}

// BypassRecord is a bypass as STORE/bypasses.log keeps it.
type BypassRecord struct {
	Time    time.Time `json:"time"`
	Overlay string    `json:"overlay"`
	// Snapshot is the overlay's snapshot in the release the last channel
	// (production) serves after the bypass.
	Snapshot string   `json:"snapshot"`
	Bypass   string   `json:"bypass"`
	Key      string   `json:"key"`
	Actor    string   `json:"actor"`
	Reason   string   `json:"reason"`
	Packages []string `json:"packages,omitempty"`
	// Carried are the packages every later switch carries.
	Carried  []Package `json:"carried,omitempty"`
	Switches []Switch  `json:"switches"`
	// Signed is the bypass's signed approval, when it was signed.
	Signed *approvalsig.Signed `json:"signed,omitempty"`
}

// bypassIntent is a planned bypass, written before its first switch.
type bypassIntent struct {
	Key      string          `json:"key"`
	Overlay  string          `json:"overlay"`
	Time     time.Time       `json:"time"`
	Packages []Package       `json:"packages"`
	Channels []plannedSwitch `json:"channels"`
}

// plannedSwitch is one channel's part of a bypass: the release it served
// when the bypass was planned, and the one it is to serve.
type plannedSwitch struct {
	Channel string `json:"channel"`
	From    string `json:"from"`
	To      string `json:"to"`
}

func (s *Store) intentPath(key string) string {
	sum := sha256.Sum256([]byte(key))
	return s.path("overlays", ".bypass-"+hex.EncodeToString(sum[:8])+".intent")
}

// ApplyBypass puts the named packages of an overlay on each channel, in
// order, and records the bypass, all under the store's lock. Frozen
// channels are switched too, their freeze moved to the new release: a
// security fix does not wait for a test cycle to converge. A retry with
// the same key returns the recorded bypass, or completes a partial one.
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
	for _, ch := range req.Channels {
		if err := CheckChannelName(ch); err != nil {
			return fail(err)
		}
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	intent := s.intentPath(req.Key)
	if rec, ok, err := s.recordedBypass(req.Key); err != nil || ok {
		if ok {
			os.Remove(intent) // left by an attempt that died after the record
		}
		return rec, err
	}
	var plan bypassIntent
	switch err := readJSON(intent, &plan); {
	case errors.Is(err, ErrNotFound):
		if plan, err = s.planBypassLocked(ctx, req); err != nil {
			return fail(err)
		}
		if err := s.writeJSON(intent, plan); err != nil {
			return fail(err)
		}
	case err != nil:
		return fail(err)
	case plan.Key != req.Key || plan.Overlay != req.Overlay:
		return fail(fmt.Errorf("operation %s was planned as a bypass of %s by %s: %w", req.Key, plan.Overlay, plan.Key, ErrInvalid))
	}
	if err := req.crashAt("intent"); err != nil {
		return fail(err)
	}
	if err := s.carryPackagesLocked(plan.Overlay, req.Bypass, plan.Packages); err != nil {
		return fail(err)
	}
	if err := req.crashAt("carry"); err != nil {
		return fail(err)
	}
	rec := BypassRecord{Time: time.Now().UTC(), Overlay: req.Overlay, Bypass: req.Bypass,
		Key: req.Key, Actor: req.Actor, Reason: req.Reason, Carried: plan.Packages, Signed: req.Signed}
	for _, p := range plan.Packages {
		rec.Packages = append(rec.Packages, p.NEVRA())
	}
	for _, p := range plan.Channels {
		sw, err := s.bypassSwitchLocked(ctx, req, p)
		if err != nil {
			return fail(err)
		}
		rec.Switches = append(rec.Switches, sw)
		if err := req.crashAt("switch " + p.Channel); err != nil {
			return fail(err)
		}
	}
	if n := len(rec.Switches); n > 0 {
		rel, err := s.Release(rec.Switches[n-1].To)
		if err != nil {
			return fail(err)
		}
		rec.Snapshot = rel.Repos[req.Overlay]
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return fail(err)
	}
	if err := appendLine(s.path("bypasses.log"), line); err != nil {
		return fail(err)
	}
	if err := req.crashAt("record"); err != nil {
		return fail(err)
	}
	if err := os.Remove(intent); err != nil {
		return fail(err)
	}
	return rec, nil
}

func (r BypassRequest) crashAt(point string) error {
	if r.Crash == nil {
		return nil
	}
	return r.Crash(point)
}

// recordedBypass finds operation key in bypasses.log.
func (s *Store) recordedBypass(key string) (BypassRecord, bool, error) {
	log, err := s.Bypasses()
	if err != nil {
		return BypassRecord{}, false, err
	}
	for _, b := range log {
		if b.Key == key {
			return b, true, nil
		}
	}
	return BypassRecord{}, false, nil
}

// planBypassLocked fixes a bypass's targets: the packages, from the
// snapshot's manifest, and for each channel that serves something the
// release it serves and the one derived from it with the packages (and
// everything earlier bypasses carry).
func (s *Store) planBypassLocked(ctx context.Context, req BypassRequest) (bypassIntent, error) {
	plan := bypassIntent{Key: req.Key, Overlay: req.Overlay, Time: time.Now().UTC()}
	if len(req.Packages) == 0 {
		return plan, fmt.Errorf("no packages: %w", ErrInvalid)
	}
	manifest, err := s.Manifest(req.Overlay, req.Snapshot)
	if err != nil {
		return plan, err
	}
	for _, nevra := range req.Packages {
		i := slices.IndexFunc(manifest, func(p Package) bool { return p.NEVRA() == nevra })
		if i < 0 {
			return plan, fmt.Errorf("snapshot %s of %s has no %s: %w", req.Snapshot, req.Overlay, nevra, ErrInvalid)
		}
		plan.Packages = append(plan.Packages, manifest[i])
	}
	for _, ch := range req.Channels {
		cur, err := s.linkedRelease(s.channelPath(ch))
		if err != nil {
			return plan, err
		}
		if cur == "" {
			continue // a channel that serves nothing yet gets the bypass with its first release
		}
		to, err := s.deriveLocked(ctx, cur, map[string][]Package{req.Overlay: plan.Packages})
		if err != nil {
			return plan, err
		}
		plan.Channels = append(plan.Channels, plannedSwitch{Channel: ch, From: cur, To: to})
	}
	return plan, nil
}

// bypassSwitchLocked makes one channel's planned switch, or returns what
// an earlier attempt did. A channel that moved since the plan (another
// switch, which carried the bypass once it was recorded as carried) is
// switched to its release with the packages carried, which may be itself.
func (s *Store) bypassSwitchLocked(ctx context.Context, req BypassRequest, p plannedSwitch) (Switch, error) {
	key := req.Key + "/" + p.Channel
	log, err := s.settledLog(p.Channel)
	if err != nil {
		return Switch{}, err
	}
	sw, done := recordedIn(log, key)
	if !done {
		target := p.To
		cur, err := s.linkedRelease(s.channelPath(p.Channel))
		if err != nil {
			return Switch{}, err
		}
		if _, err := s.Release(p.To); cur != p.From || err != nil {
			if target, err = s.deriveLocked(ctx, cur, nil); err != nil {
				return Switch{}, err
			}
		}
		sw, err = s.switchLocked(ctx, SwitchRequest{Channel: p.Channel, Release: target, Actor: req.Actor,
			Reason: "bypass " + req.Bypass + ": " + req.Reason, Key: key, ThroughFreeze: true})
		if err != nil {
			return Switch{}, err
		}
	}
	if !sw.Moved() && sw.To == p.To && p.From != p.To {
		// An attempt died between the channel's rename and its log entry:
		// the channel went from the planned From to To by this bypass.
		sw.From, sw.Outcome = p.From, OutcomeSwitched
	}
	return sw, nil
}

// Bypasses lists every bypass, oldest first.
func (s *Store) Bypasses() ([]BypassRecord, error) {
	recs, err := readLog[BypassRecord](s.path("bypasses.log"))
	if err != nil {
		return nil, fmt.Errorf("bypasses: %w", err)
	}
	return recs, nil
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
