package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// overlaySnapshot commits a real snapshot of an overlay holding rpms: the
// files in the pool, metadata by createrepo_c, as a snapshot of the
// overlay directory would hold them.
func overlaySnapshot(t *testing.T, s *Store, repo string, rpms ...string) Snapshot {
	t.Helper()
	var pkgs []Package
	for _, f := range rpms {
		info, err := InspectRPM(t.Context(), f)
		require.NoError(t, err)
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		file := addPool(t, s, info.overlayName(), string(data))
		pkgs = append(pkgs, Package{Name: info.Name, Epoch: info.Epoch, Version: info.Version, Release: info.Release,
			Arch: info.Arch, Checksum: file.Checksum, Size: file.Size, Href: file.Path})
	}
	snap, err := s.deriveOverlay(t.Context(), repo, "", nil, pkgs)
	require.NoError(t, err)
	return snap
}

// channelNEVRAs lists the NEVRAs of repo in the release a channel serves.
func channelNEVRAs(t *testing.T, s *Store, channel, repo string) []string {
	t.Helper()
	cur, err := s.Channel(channel)
	require.NoError(t, err)
	return releaseNEVRAs(t, s, cur, repo)
}

func releaseNEVRAs(t *testing.T, s *Store, release, repo string) []string {
	t.Helper()
	rel, err := s.Release(release)
	require.NoError(t, err)
	pkgs, err := s.Manifest(repo, rel.Repos[repo])
	require.NoError(t, err)
	var out []string
	for _, p := range pkgs {
		out = append(out, p.NEVRA())
		require.FileExists(t, filepath.Join(s.snapshotDir(repo, rel.Repos[repo]), p.Href), "%s is in the snapshot's tree", p.NEVRA())
	}
	slices.Sort(out)
	return out
}

// bypassFixture: production serves prod (overlay: ssl 1.0), testing
// serves test (ssl 1.0 and the tested tool-1.0); the overlay directory
// has since got the untested pending-1.0 and the fix ssl-1.1: all is the
// snapshot the bypass activity takes after adding the fix.
type bypassFixture struct {
	s                  *Store
	base1              Snapshot
	prod, test         Release
	all                Snapshot
	ssl0, tool, fix, A string // RPM files
	req                BypassRequest
}

// rpmCache holds each test RPM's bytes, built once per test binary: every
// fixture of these tests starts from the same packages.
var rpmCache sync.Map

// cachedRPM writes the RPM name-version-1.noarch.rpm into a test directory.
func cachedRPM(t *testing.T, name, version string) string {
	t.Helper()
	k := name + "-" + version
	data, ok := rpmCache.Load(k)
	if !ok {
		b, err := os.ReadFile(buildRPM(t, name, version, k))
		require.NoError(t, err)
		data, _ = rpmCache.LoadOrStore(k, b)
	}
	p := filepath.Join(t.TempDir(), k+"-1.noarch.rpm")
	require.NoError(t, os.WriteFile(p, data.([]byte), 0o644))
	return p
}

func newBypassFixture(t *testing.T) *bypassFixture {
	t.Helper()
	ctx := context.Background()
	f := &bypassFixture{s: newStore(t), ssl0: cachedRPM(t, "openssl", "1.0"), tool: cachedRPM(t, "tool", "1.0"),
		fix: cachedRPM(t, "openssl", "1.1"), A: cachedRPM(t, "pending", "1.0")}
	day := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	f.base1 = simpleSnapshot(t, f.s, "base", "b1", day)
	f.prod = release(t, f.s, day, map[string]string{"base": f.base1.ID, "site": overlaySnapshot(t, f.s, "site", f.ssl0).ID})
	f.test = release(t, f.s, day.Add(time.Hour), map[string]string{"base": f.base1.ID, "site": overlaySnapshot(t, f.s, "site", f.ssl0, f.tool).ID})
	for ch, rel := range map[string]string{"production": f.prod.ID, "testing": f.test.ID} {
		_, err := f.s.Switch(ctx, SwitchRequest{Channel: ch, Release: rel, Actor: "ops", Reason: "setup"})
		require.NoError(t, err)
	}
	f.all = overlaySnapshot(t, f.s, "site", f.ssl0, f.tool, f.A, f.fix)
	f.req = BypassRequest{Overlay: "site", Snapshot: f.all.ID, Channels: []string{"testing", "production"},
		Bypass: "bypass-site-1", Key: "bypass-site-1/run/apply", Actor: "cli/bob", Reason: "CVE-2026-1234",
		Packages: []string{"openssl-1.1-1.noarch"}}
	return f
}

// TestBypassTakesOnlyTheNamedPackages: a bypass puts on each channel the
// overlay it served plus the named packages, never what else waits in the
// overlay; every later switch (a daily sync made before the bypass, a
// rollback) carries the packages, and a release that has them is served
// as it is.
func TestBypassTakesOnlyTheNamedPackages(t *testing.T) {
	ctx := context.Background()
	f := newBypassFixture(t)
	s := f.s
	rec, err := s.ApplyBypass(ctx, f.req)
	require.NoError(t, err)

	require.Equal(t, []string{"openssl-1.0-1.noarch", "openssl-1.1-1.noarch"}, channelNEVRAs(t, s, "production", "site"),
		"production: its overlay and the fix, not the pending package")
	require.Equal(t, []string{"openssl-1.0-1.noarch", "openssl-1.1-1.noarch", "tool-1.0-1.noarch"}, channelNEVRAs(t, s, "testing", "site"),
		"testing: its overlay and the fix")
	require.Equal(t, []string{"openssl-1.1-1.noarch"}, rec.Packages)
	require.Len(t, rec.Carried, 1)
	require.NotEmpty(t, rec.Carried[0].Checksum.Hex, "the record names the pool object")
	held, err := os.Stat(filepath.Join(s.Root(), "overlays", ".site.carried", "sha256-"+rec.Carried[0].Checksum.Hex))
	require.NoError(t, err)
	pooled, err := os.Stat(s.PoolPath(rec.Carried[0].Checksum))
	require.NoError(t, err)
	require.True(t, os.SameFile(held, pooled), "a hardlink keeps the carried package's pool object from GC")
	require.Len(t, rec.Switches, 2)
	for i, from := range []string{f.test.ID, f.prod.ID} {
		sw := rec.Switches[i]
		require.Equal(t, from, sw.From)
		cur, err := s.Channel(sw.Channel)
		require.NoError(t, err)
		require.Equal(t, cur, sw.To)
		rel, err := s.Release(cur)
		require.NoError(t, err)
		require.Equal(t, f.base1.ID, rel.Repos["base"], "the mirrors stay as they were")
		var d Derivation
		require.NoError(t, readJSON(filepath.Join(s.provenanceDir(cur), "derived.json"), &d))
		require.Equal(t, from, d.Base)
		require.Equal(t, map[string][]string{"site": {"openssl-1.1-1.noarch"}}, d.Packages, "provenance names what is carried")
	}
	require.Equal(t, mustRelease(t, s, rec.Switches[1].To).Repos["site"], rec.Snapshot, "the record names production's overlay snapshot")

	// A daily sync of the whole overlay: testing gets the pending
	// package, and nothing is carried (the fix is in it).
	day := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	base2 := simpleSnapshot(t, s, "base", "b2", day)
	synced := release(t, s, day, map[string]string{"base": base2.ID, "site": f.all.ID})
	sw, err := s.Switch(ctx, SwitchRequest{Channel: "testing", Release: synced.ID, Actor: "dailysync", Reason: "daily", Key: "sync-2/testing"})
	require.NoError(t, err)
	require.Equal(t, synced.ID, sw.To)
	require.Empty(t, sw.Requested)
	require.Contains(t, channelNEVRAs(t, s, "testing", "site"), "pending-1.0-1.noarch")

	// A daily sync that snapshotted the overlay before the bypass, and a
	// rollback of production: both carry the fix, and only it.
	early := release(t, s, day.Add(time.Hour), map[string]string{"base": base2.ID, "site": f.test.Repos["site"]})
	sw, err = s.Switch(ctx, SwitchRequest{Channel: "daily", Release: early.ID, Actor: "dailysync", Reason: "daily", Key: "sync-3/daily"})
	require.NoError(t, err)
	require.Equal(t, early.ID, sw.Requested)
	require.Equal(t, []string{"openssl-1.0-1.noarch", "openssl-1.1-1.noarch", "tool-1.0-1.noarch"}, channelNEVRAs(t, s, "daily", "site"))
	retry, err := s.Switch(ctx, SwitchRequest{Channel: "daily", Release: early.ID, Actor: "dailysync", Reason: "daily", Key: "sync-3/daily"})
	require.NoError(t, err, "the retry of a carried switch answers from the log")
	require.Equal(t, sw.To, retry.To)
	sw, err = s.Rollback(ctx, SwitchRequest{Channel: "production", Release: f.prod.ID, Actor: "ops", Reason: "back", Key: "rb-1/production"})
	require.NoError(t, err)
	require.Equal(t, f.prod.ID, sw.Requested)
	require.Equal(t, rec.Switches[1].To, sw.From)
	require.Equal(t, []string{"openssl-1.0-1.noarch", "openssl-1.1-1.noarch"}, channelNEVRAs(t, s, "production", "site"))
	require.Empty(t, tmpEntries(t, s), "no staging directory left")

	again, err := s.ApplyBypass(ctx, f.req)
	require.NoError(t, err)
	require.Equal(t, rec.Switches, again.Switches, "a retry returns the recorded bypass")
	all, err := s.Bypasses()
	require.NoError(t, err)
	require.Len(t, all, 1)

	_, err = s.ApplyBypass(ctx, BypassRequest{Overlay: "site", Snapshot: f.all.ID, Key: "k"})
	require.ErrorIs(t, err, ErrInvalid, "a bypass says who and why")
	_, err = s.ApplyBypass(ctx, BypassRequest{Overlay: "site", Snapshot: f.all.ID, Key: "k2", Actor: "bob", Reason: "x",
		Channels: []string{"production"}, Packages: []string{"openssl-9-1.noarch"}})
	require.ErrorIs(t, err, ErrInvalid, "a package the snapshot does not hold")
	require.ErrorContains(t, err, "has no openssl-9-1.noarch")
}

func mustRelease(t *testing.T, s *Store, id string) Release {
	t.Helper()
	rel, err := s.Release(id)
	require.NoError(t, err)
	return rel
}

// TestBypassChain: a bypass on top of a bypass stands on every release in
// between, not only on the oldest.
func TestBypassChain(t *testing.T) {
	ctx := context.Background()
	f := newBypassFixture(t)
	s := f.s
	first, err := s.ApplyBypass(ctx, f.req)
	require.NoError(t, err)
	second := f.req
	second.Key, second.Bypass, second.Packages = "bypass-site-2/run/apply", "bypass-site-2", []string{"pending-1.0-1.noarch"}
	rec, err := s.ApplyBypass(ctx, second)
	require.NoError(t, err)
	d1, d2 := first.Switches[0].To, rec.Switches[0].To
	require.Equal(t, d1, rec.Switches[0].From)
	chain, err := s.ReleaseChain(d2)
	require.NoError(t, err)
	require.Equal(t, []string{d2, d1, f.test.ID}, chain)
	for _, r := range chain {
		ok, err := s.InChain(d2, r)
		require.NoError(t, err)
		require.True(t, ok, "%s is in the chain", r)
	}
	ok, err := s.InChain(d2, f.prod.ID)
	require.NoError(t, err)
	require.False(t, ok)
	base, err := s.ReleaseBase(d2)
	require.NoError(t, err)
	require.Equal(t, f.test.ID, base)
	require.Equal(t, []string{"openssl-1.0-1.noarch", "openssl-1.1-1.noarch", "pending-1.0-1.noarch"}, channelNEVRAs(t, s, "production", "site"))

	// The gate a chain stands on is the nearest candidate's.
	type candidate struct{ Gate string }
	var c candidate
	r, found, err := s.CandidateInChain(d2, &c)
	require.NoError(t, err)
	require.False(t, found, "no release of the chain became a candidate")
	require.Equal(t, f.test.ID, r, "then the chain's base")
	require.NoError(t, s.RecordCandidate(f.test.ID, candidate{Gate: "base"}))
	r, found, err = s.CandidateInChain(d2, &c)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, f.test.ID, r)
	require.NoError(t, s.RecordCandidate(d1, candidate{Gate: "after the first bypass"}))
	r, found, err = s.CandidateInChain(d2, &c)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, d1, r, "the nearest, not the oldest")
	require.Equal(t, "after the first bypass", c.Gate)
}

// TestApplyBypassCrashPoints kills a bypass after each of its durable
// steps (and once between a channel's rename and its log entry), then
// retries it with the same request: the retry completes it, the store
// ends as after a bypass that never failed, the bypass is recorded once,
// and its switches say what happened (changed, from the release served
// before the bypass).
func TestApplyBypassCrashPoints(t *testing.T) {
	ctx := context.Background()
	ref := newBypassFixture(t)
	want, err := ref.s.ApplyBypass(ctx, ref.req)
	require.NoError(t, err)
	wantNEVRAs := map[string][]string{}
	for _, ch := range ref.req.Channels {
		wantNEVRAs[ch] = channelNEVRAs(t, ref.s, ch, "site")
	}
	t.Run("died while deriving, before the intent", func(t *testing.T) {
		f := newBypassFixture(t)
		s := f.s
		// What a process killed inside createrepo_c leaves: the staging
		// directory of production's derivation, no lock held.
		manifest, err := s.Manifest("site", f.all.ID)
		require.NoError(t, err)
		fix := manifest[slices.IndexFunc(manifest, func(p Package) bool { return p.NEVRA() == "openssl-1.1-1.noarch" })]
		left := filepath.Join(s.TempDir(), deriveKey("site", f.prod.Repos["site"], []Package{fix})+"-0123456789abcdef")
		require.NoError(t, os.MkdirAll(filepath.Join(left, "repodata"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(left, "repodata", "primary.xml.gz"), []byte("torn"), 0o644))
		_, err = s.ApplyBypass(ctx, f.req)
		require.NoError(t, err)
		require.Empty(t, tmpEntries(t, s), "the retry's derivation swept the dead one's directory")
	})
	killed := errors.New("killed")
	for _, tc := range []struct {
		point string
		// renamed: the attempt died after renaming testing, before its
		// log entry.
		renamed bool
	}{
		{point: "intent"}, {point: "carry"}, {point: "carry", renamed: true},
		{point: "switch testing"}, {point: "switch production"}, {point: "record"},
	} {
		t.Run(fmt.Sprintf("%s renamed=%v", tc.point, tc.renamed), func(t *testing.T) {
			f := newBypassFixture(t)
			s := f.s
			req := f.req
			req.Crash = func(p string) error {
				if p == tc.point {
					return killed
				}
				return nil
			}
			_, err := s.ApplyBypass(ctx, req)
			require.ErrorIs(t, err, killed)
			if tc.renamed {
				var plan bypassIntent
				require.NoError(t, readJSON(s.intentPath(req.Key), &plan))
				require.NoError(t, s.symlinkAtomic(releaseLink(plan.Channels[0].To), s.channelPath("testing")))
			}
			rec, err := s.ApplyBypass(ctx, f.req)
			require.NoError(t, err, "the retry completes the bypass")
			require.Len(t, rec.Switches, 2)
			for i, from := range []string{f.test.ID, f.prod.ID} {
				sw := rec.Switches[i]
				require.Equal(t, want.Switches[i].Channel, sw.Channel)
				require.True(t, sw.Moved(), "%s: the switch is reported as a change", sw.Channel)
				require.Equal(t, from, sw.From, "%s: the true From", sw.Channel)
				cur, err := s.Channel(sw.Channel)
				require.NoError(t, err)
				require.Equal(t, cur, sw.To)
				require.Equal(t, wantNEVRAs[sw.Channel], channelNEVRAs(t, s, sw.Channel, "site"))
				log, err := s.History(sw.Channel)
				require.NoError(t, err)
				keyed := slices.DeleteFunc(log, func(e Switch) bool { return e.Key != sw.Key })
				require.Len(t, keyed, 1, "one entry of %s for the bypass", sw.Channel)
			}
			all, err := s.Bypasses()
			require.NoError(t, err)
			require.Len(t, all, 1, "recorded once")
			require.Equal(t, want.Packages, all[0].Packages)
			again, err := s.ApplyBypass(ctx, f.req)
			require.NoError(t, err)
			require.Equal(t, rec.Switches, again.Switches)
			carried, err := s.carriedPackages("site")
			require.NoError(t, err)
			require.Len(t, carried, 1, "the fix is carried once")
			require.NoFileExists(t, s.intentPath(req.Key))
			require.Empty(t, tmpEntries(t, s), "no staging directory left")
		})
	}
}

// TestConcurrentBypassesSerialise runs two bypasses of two overlays and a
// daily sync's switch of testing to a release made before either, all at
// once: whatever order the store's lock gives them, testing ends up with
// the sync's base snapshot and both bypasses, production with both, and
// the log keeps every bypass.
func TestConcurrentBypassesSerialise(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	day := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	ssl0, fix, agent0, agent1 := cachedRPM(t, "openssl", "1.0"), cachedRPM(t, "openssl", "1.1"), cachedRPM(t, "agent", "1.0"), cachedRPM(t, "agent", "1.1")
	b1 := simpleSnapshot(t, s, "base", "b1", day)
	s1 := overlaySnapshot(t, s, "site", ssl0)
	v1 := overlaySnapshot(t, s, "vendor", agent0)
	r1 := release(t, s, day, map[string]string{"base": b1.ID, "site": s1.ID, "vendor": v1.ID})
	for _, ch := range []string{"testing", "production"} {
		_, err := s.Switch(ctx, SwitchRequest{Channel: ch, Release: r1.ID, Actor: "ops", Reason: "setup"})
		require.NoError(t, err)
	}
	b2 := simpleSnapshot(t, s, "base", "b2", day.Add(time.Hour))
	r2 := release(t, s, day.Add(time.Hour), map[string]string{"base": b2.ID, "site": s1.ID, "vendor": v1.ID})
	s2 := overlaySnapshot(t, s, "site", ssl0, fix)
	v2 := overlaySnapshot(t, s, "vendor", agent0, agent1)

	for round := range 3 {
		errs := make(chan error, 3)
		for _, b := range []struct{ overlay, snap, pkg string }{{"site", s2.ID, "openssl-1.1-1.noarch"}, {"vendor", v2.ID, "agent-1.1-1.noarch"}} {
			go func() {
				_, err := s.ApplyBypass(ctx, BypassRequest{Overlay: b.overlay, Snapshot: b.snap, Channels: []string{"testing", "production"},
					Bypass: "bypass-" + b.overlay, Key: fmt.Sprintf("bypass-%s/%d", b.overlay, round), Actor: "cli/bob", Reason: "CVE",
					Packages: []string{b.pkg}})
				errs <- err
			}()
		}
		go func() {
			_, err := s.Switch(ctx, SwitchRequest{Channel: "testing", Release: r2.ID, Actor: "dailysync", Reason: "daily", Key: fmt.Sprintf("sync/%d", round)})
			errs <- err
		}()
		for range 3 {
			require.NoError(t, <-errs)
		}
		for ch, base := range map[string]string{"testing": b2.ID, "production": b1.ID} {
			cur, err := s.Channel(ch)
			require.NoError(t, err)
			require.Equal(t, base, mustRelease(t, s, cur).Repos["base"], "round %d: %s", round, ch)
			require.Equal(t, []string{"openssl-1.0-1.noarch", "openssl-1.1-1.noarch"}, channelNEVRAs(t, s, ch, "site"), "round %d: %s", round, ch)
			require.Equal(t, []string{"agent-1.0-1.noarch", "agent-1.1-1.noarch"}, channelNEVRAs(t, s, ch, "vendor"), "round %d: %s", round, ch)
		}
	}
	all, err := s.Bypasses()
	require.NoError(t, err)
	require.Len(t, all, 6)
}
