package tests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

// vendor is a vendor's download site on loopback: a directory listing of
// RPMs and a SHA256SUMS file, as many vendors publish them. It counts the
// requests of each path.
type vendor struct {
	t    *testing.T
	dir  string
	srv  *httptest.Server
	mu   sync.Mutex
	gets map[string]int
}

func newVendor(t *testing.T) *vendor {
	v := &vendor{t: t, dir: t.TempDir(), gets: map[string]int{}}
	files := http.FileServer(http.Dir(v.dir))
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		v.gets[r.URL.Path]++
		v.mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(v.srv.Close)
	return v
}

// release puts a new build on the site next to the old ones and rewrites
// SHA256SUMS.
func (v *vendor) release(sp upstream.Spec) {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := v.t.TempDir()
	built, err := upstream.BuildSpecs(ctx, []upstream.Spec{sp}, out)
	require.NoError(v.t, err)
	dl := filepath.Join(v.dir, "dl")
	require.NoError(v.t, os.MkdirAll(dl, 0o755))
	for _, b := range built {
		require.NoError(v.t, os.Rename(b, filepath.Join(dl, filepath.Base(b))))
	}
	rpms, err := filepath.Glob(filepath.Join(dl, "*.rpm"))
	require.NoError(v.t, err)
	var sums strings.Builder
	for _, p := range rpms {
		data, err := os.ReadFile(p)
		require.NoError(v.t, err)
		sum := sha256.Sum256(data)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), filepath.Base(p))
	}
	require.NoError(v.t, os.WriteFile(filepath.Join(dl, "SHA256SUMS"), []byte(sums.String()), 0o644))
}

func (v *vendor) count(path string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.gets[path]
}

// watch triggers an overlay's watch schedule and returns the result of
// the run it started.
func (s *site) watch(overlay string) (workflows.OverlayWatchStatus, client.WorkflowRun) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h := s.client.ScheduleClient().GetHandle(ctx, workflows.OverlayWatchScheduleID(overlay))
	last := func() client.ScheduleWorkflowExecution {
		d, err := h.Describe(ctx)
		require.NoError(s.t, err)
		if n := len(d.Info.RecentActions); n > 0 && d.Info.RecentActions[n-1].StartWorkflowResult != nil {
			return *d.Info.RecentActions[n-1].StartWorkflowResult
		}
		return client.ScheduleWorkflowExecution{}
	}
	before := last()
	require.NoError(s.t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
	var started client.ScheduleWorkflowExecution
	require.Eventually(s.t, func() bool { started = last(); return started != before && started.WorkflowID != "" },
		time.Minute, 100*time.Millisecond, "the schedule starts a watch")
	run := s.client.GetWorkflow(ctx, started.WorkflowID, started.FirstExecutionRunID)
	var st workflows.OverlayWatchStatus
	require.NoError(s.t, run.Get(ctx, &st))
	return st, run
}

// watchStatus is the overlay "site"'s watch as `osflow status --json`
// shows it.
func (s *site) watchStatus() starter.WatchView {
	s.t.Helper()
	var st starter.Status
	runJSON(s.t, &st, "--config", s.cfg.Path, "--json", "status")
	require.Len(s.t, st.Watches, 1, "%+v", st.Watches)
	w := st.Watches[0]
	require.Equal(s.t, "site", w.Overlay)
	require.Equal(s.t, "osflow-overlay-site", w.Schedule)
	require.NotNil(s.t, w.LastAt)
	require.NotNil(s.t, w.Next, "the schedule's next check")
	return w
}

// TestOverlayWatchToDnf: a vendor publishes a new version; the overlay's
// watch schedule finds it, verifies it against the vendor's SHA256SUMS
// and adds it to the overlay; the next DailySync's release carries it and
// dnf on testing upgrades to it. Without `bypass: auto` nothing reaches a
// channel before that sync.
func TestOverlayWatchToDnf(t *testing.T) {
	v := newVendor(t)
	v.release(spec("vendor-app", "1.0"))
	watched := fmt.Sprintf("  - name: site\n    overlay: true\n    sources:\n      - url: %s/dl/\n        kind: listing\n"+
		"        include: ['vendor-app-*.rpm']\n        checksumURL: %s/dl/SHA256SUMS\n    watch: ['0 0 1 1 *']\n", v.srv.URL, v.srv.URL)
	s := newSite(t, "e2e-sources", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}},
		watched+"testing:\n  gate:\n    cleanRounds: 99\n")
	ctx := context.Background()

	applied, err := starter.ApplyOverlaySchedules(ctx, s.client, s.cfg)
	require.NoError(t, err)
	require.Equal(t, []starter.OverlaySchedule{{Schedule: "osflow-overlay-site", Overlay: "site", Result: "created",
		Cron: []string{"0 0 1 1 *"}, TimeZone: "UTC", Sources: 1}}, applied)
	t.Cleanup(func() { _ = s.client.ScheduleClient().GetHandle(ctx, "osflow-overlay-site").Delete(ctx) })
	d, err := s.client.ScheduleClient().GetHandle(ctx, "osflow-overlay-site").Describe(ctx)
	require.NoError(t, err)
	require.Equal(t, "UTC", d.Schedule.Spec.TimeZoneName)
	require.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, d.Schedule.Policy.Overlap)

	first, _ := s.watch("site")
	require.Equal(t, workflows.WatchDone, first.Phase)
	require.Equal(t, []string{"vendor-app-1.0-1.noarch"}, first.Added)
	require.Empty(t, first.Bypass)
	require.Empty(t, s.channel("testing"), "a watch without bypass: auto moves no channel")

	base := s.sync()
	root := filepath.Join(s.dir, "node")
	s.dnf(root, "testing", "install", "vendor-app")
	require.Equal(t, "vendor-app-1.0-1", installed(t, root, "vendor-app"))

	nothing, _ := s.watch("site")
	require.Equal(t, workflows.WatchNoChange, nothing.Phase)
	require.Empty(t, nothing.Added)
	require.Equal(t, 1, v.count("/dl/vendor-app-1.0-1.noarch.rpm"), "what the overlay has is not downloaded again")

	v.release(spec("vendor-app", "1.1"))
	second, run := s.watch("site")
	recordHistory(t, s.client, run.GetID(), run.GetRunID(), "overlaywatch-v1-added")
	require.Equal(t, []string{"vendor-app-1.1-1.noarch"}, second.Added)
	require.Equal(t, "vendor-app-1.0-1.noarch", second.Sources[0].New[0].Replaces)
	require.Equal(t, 1, v.count("/dl/vendor-app-1.0-1.noarch.rpm"))
	require.Equal(t, 1, v.count("/dl/vendor-app-1.1-1.noarch.rpm"))
	require.Equal(t, base.Release, s.channel("testing"), "the new version waits for the daily sync")
	w := s.watchStatus()
	require.Equal(t, run.GetID(), w.LastRun)
	require.Equal(t, "added vendor-app-1.1-1.noarch (the next daily sync takes it)", w.Outcome)
	s.dnf(root, "testing", "upgrade")
	require.Equal(t, "vendor-app-1.0-1", installed(t, root, "vendor-app"))

	next := s.sync()
	require.NotEqual(t, base.Release, next.Release)
	s.dnf(root, "testing", "upgrade")
	require.Equal(t, "vendor-app-1.1-1", installed(t, root, "vendor-app"), "the next daily sync's release carries it")
	diff, err := s.store.DiffReleases(base.Release, next.Release)
	require.NoError(t, err)
	site := diff.Repos["site"]
	require.Len(t, site.Added, 1, "the overlay keeps 1.0 next to 1.1: %+v", site)
	require.Equal(t, "vendor-app-1.1-1.noarch", site.Added[0].NEVRA())
	require.Empty(t, site.Removed)

	// An overlay that lost its sources loses its schedule.
	for i := range s.cfg.Repos {
		s.cfg.Repos[i].Sources, s.cfg.Repos[i].Watch, s.cfg.Repos[i].WatchTimeZone = nil, nil, ""
	}
	require.Eventually(t, func() bool { // schedules are listed from visibility, which lags a little
		done, err := starter.ApplyOverlaySchedules(ctx, s.client, s.cfg)
		require.NoError(t, err)
		return len(done) == 1 && done[0].Schedule == "osflow-overlay-site" && done[0].Overlay == "site" && done[0].Result == "deleted"
	}, time.Minute, 500*time.Millisecond)
	_, err = s.client.ScheduleClient().GetHandle(ctx, "osflow-overlay-site").Describe(ctx)
	var nf *serviceerror.NotFound
	require.True(t, errors.As(err, &nf), "%v", err)
}

// securityFeedSite is a site whose overlay watches a vendor's security
// feed (`bypass: auto`) with bypass.allow allow; the overlay starts with
// the vendor's openssl 3.0.1, which production serves (release r1).
func securityFeedSite(t *testing.T, ns, allow string) (s *site, v *vendor, r1 string) {
	t.Helper()
	v = newVendor(t)
	v.release(spec("openssl", "3.0.1"))
	watched := fmt.Sprintf("  - name: site\n    overlay: true\n    bypass:\n      allow: ['%s']\n    sources:\n"+
		"      - url: %s/dl/\n        kind: listing\n        include: ['openssl-*.rpm']\n        checksumURL: %s/dl/SHA256SUMS\n"+
		"        bypass: auto\n    watch: ['0 0 1 1 *']\n", allow, v.srv.URL, v.srv.URL)
	s = newSite(t, ns, map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}},
		watched+"testing:\n  gate:\n    cleanRounds: 99\n")
	ctx := context.Background()
	_, err := starter.ApplyOverlaySchedules(ctx, s.client, s.cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.client.ScheduleClient().GetHandle(ctx, "osflow-overlay-site").Delete(ctx) })
	_, err = s.store.OverlayAdd(ctx, "site", []string{filepath.Join(v.dir, "dl", "openssl-3.0.1-1.noarch.rpm")})
	require.NoError(t, err)
	r1 = s.sync().Release
	_, err = s.store.Switch(ctx, repo.SwitchRequest{Channel: "production", Release: r1, Actor: "e2e", Reason: "first production", Key: "e2e-setup"})
	require.NoError(t, err)
	return s, v, r1
}

// TestOverlayWatchBypassesASecurityFeed: a source marked `bypass: auto`
// is a vendor's security feed. When the vendor publishes a fixed openssl
// between two checks, the watch downloads it, verifies it and starts an
// emergency bypass by itself: real dnf on production upgrades to it
// without a daily sync. A third check starts no second bypass.
func TestOverlayWatchBypassesASecurityFeed(t *testing.T) {
	s, v, r1 := securityFeedSite(t, "e2e-sources-auto", "openssl*")
	ctx := context.Background()
	root := filepath.Join(s.dir, "node")
	s.dnf(root, "production", "install", "openssl")
	require.Equal(t, "openssl-3.0.1-1", installed(t, root, "openssl"))

	quiet, _ := s.watch("site")
	require.Equal(t, workflows.WatchNoChange, quiet.Phase, "%+v", quiet)
	require.Empty(t, quiet.Bypass)

	v.release(spec("openssl", "3.0.2"))
	fired, run := s.watch("site")
	require.Equal(t, []string{"openssl-3.0.2-1.noarch"}, fired.BypassPackages, "%+v", fired)
	require.NotEmpty(t, fired.Bypass)
	recordHistory(t, s.client, run.GetID(), run.GetRunID(), "overlaywatch-v1-bypass")

	var st workflows.BypassStatus
	ctx2, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	require.NoError(t, s.client.GetWorkflow(ctx2, fired.Bypass, "").Get(ctx2, &st))
	require.Equal(t, workflows.PhaseDone, st.Phase, "%+v", st)
	require.Equal(t, "openssl-3.0.1-1.noarch", st.Packages[0].Replaces)
	require.Equal(t, workflows.WatchActor("site"), st.Actor)
	require.NotEqual(t, r1, s.channel("production"))
	require.Equal(t, s.channel("production"), s.channel("testing"))
	s.dnf(root, "production", "upgrade")
	require.Equal(t, "openssl-3.0.2-1", installed(t, root, "openssl"), "production has the fix before any daily sync")

	w := s.watchStatus()
	require.Equal(t, "started bypass "+fired.Bypass+" with openssl-3.0.2-1.noarch", w.Outcome)

	again, _ := s.watch("site")
	require.Equal(t, workflows.WatchNoChange, again.Phase, "%+v", again)
	require.Empty(t, again.Bypass)
	require.Equal(t, "no new version", s.watchStatus().Outcome)
	bypasses, err := s.store.Bypasses()
	require.NoError(t, err)
	require.Len(t, bypasses, 1, "one bypass for one vendor release")
	require.Equal(t, 1, v.count("/dl/openssl-3.0.2-1.noarch.rpm"), "the fix is downloaded once")
}

// Issue 16 #10: a watched build whose bypass failed, was rejected or
// refused was never offered again. Here the overlay's bypass.allow does
// not take openssl: the watch's bypass is refused; `osflow status` says
// why the build is held and names the command; after `osflow overlay
// retry` the next check offers it again and starts a new bypass.
func TestOverlayRetryOffersAHeldBuildAgain(t *testing.T) {
	s, v, _ := securityFeedSite(t, "e2e-sources-retry", "hpc*")
	ctx := context.Background()
	v.release(spec("openssl", "3.0.2"))
	fired, _ := s.watch("site")
	require.Equal(t, []string{"openssl-3.0.2-1.noarch"}, fired.BypassPackages, "%+v", fired)
	ctx2, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	require.ErrorContains(t, s.client.GetWorkflow(ctx2, fired.Bypass, "").Get(ctx2, nil), "not allowed")

	held := s.watchStatus().Held
	require.Len(t, held, 1, "%+v", held)
	require.Equal(t, "openssl-3.0.2-1.noarch", held[0].NEVRA)
	require.Equal(t, fired.Bypass, held[0].Bypass)
	require.Regexp(t, `^refused: .*package openssl is not allowed in overlay site \(bypass.allow: hpc\*\).* \(bypass `+fired.Bypass+`\)$`, held[0].Why)
	require.Equal(t, "osflow overlay retry site openssl-3.0.2-1.noarch", held[0].Retry)
	out, err := s.osflow("status")
	require.NoError(t, err, out)
	require.Contains(t, out, "held openssl-3.0.2-1.noarch: refused: ")
	require.Contains(t, out, "offer it again at the next check: osflow overlay retry site openssl-3.0.2-1.noarch")

	quiet, _ := s.watch("site")
	require.Empty(t, quiet.Bypass, "held: no check offers it by itself")

	for args, want := range map[[2]string]string{
		{"nosuch", ""}:                 `no overlay repo named "nosuch" with sources`,
		{"site", "--source=http://x/"}: `overlay site has no source "http://x/"; its sources: ` + v.srv.URL + "/dl/",
	} {
		_, err = s.osflow("overlay", "retry", args[0], args[1])
		require.ErrorContains(t, err, want)
		require.Equal(t, 2, starter.ExitCode(err), "bad usage")
	}
	_, err = s.osflow("overlay", "retry", "site", "nosuch-1.0-1.noarch")
	require.ErrorContains(t, err, `no build named "nosuch-1.0-1.noarch" is held by a failed, rejected or refused bypass (held: openssl-3.0.2-1.noarch`)
	for range 2 {
		out, err = s.osflow("overlay", "retry", "site", "openssl-3.0.2-1.noarch.rpm")
		require.NoError(t, err, out)
	}
	require.Contains(t, out, "openssl-3.0.2-1.noarch from "+v.srv.URL+"/dl/: already offered again at the next check")
	require.Empty(t, s.watchStatus().Held)

	again, _ := s.watch("site")
	require.Equal(t, []string{"openssl-3.0.2-1.noarch"}, again.BypassPackages, "offered again: %+v", again)
	require.NotEmpty(t, again.Bypass)
	require.NotEqual(t, fired.Bypass, again.Bypass, "a new bypass")
	bypasses, err := s.store.Bypasses()
	require.NoError(t, err)
	require.Empty(t, bypasses, "refused bypasses moved no channel")
}
