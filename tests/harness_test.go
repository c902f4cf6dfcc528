package tests

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap/zaptest"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/logging"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/worker"
)

// site is one test's osflow installation: an upstream served over loopback,
// a store, a configuration, a running worker and a channel server.
type site struct {
	t        *testing.T
	dir      string
	upstream string // directory served as the upstream root
	cfg      *config.Config
	store    *repo.Store
	client   client.Client
	channels *httptest.Server
	// workers are the `osflow worker` processes a test started.
	workers []*exec.Cmd
}

// passingSmoke is the testing section of a site whose one suite always
// passes and whose gate passes after one clean round: the quickest way
// to a candidate.
const passingSmoke = `testing:
  suites:
    - name: smoke
      command: ["sh", "-c", "printf '<testsuite name=\"smoke\" tests=\"1\"><testcase classname=\"smoke\" name=\"login\"/></testsuite>' > \"$OSFLOW_JUNIT\""]
  gate:
    cleanRounds: 1
`

// newBareSite builds the upstream repos from specs, writes a configuration
// naming them (plus extra YAML) for namespace ns, and serves the channels;
// it starts no worker.
func newBareSite(t *testing.T, ns string, repos map[string][]upstream.Spec, extra string) *site {
	t.Helper()
	s := &site{t: t, dir: t.TempDir()}
	s.upstream = filepath.Join(s.dir, "upstream")
	for name, specs := range repos {
		s.publish(name, specs...)
	}
	up := httptest.NewServer(http.FileServer(http.Dir(s.upstream)))
	t.Cleanup(up.Close)

	require.Contains(t, namespaces, ns, "register the namespace in main_test.go")
	s.channels = httptest.NewUnstartedServer(nil)
	var yaml strings.Builder
	yaml.WriteString("store: " + filepath.Join(s.dir, "store") + "\n")
	yaml.WriteString("temporal:\n  address: " + frontend + "\n  namespace: " + ns + "\n")
	yaml.WriteString("http:\n  baseURL: http://" + s.channels.Listener.Addr().String() + "/\n")
	yaml.WriteString("tickets:\n  dir: " + filepath.Join(s.dir, "tickets") + "\n")
	yaml.WriteString("log:\n  format: console\n  level: warn\n")
	yaml.WriteString("sync:\n  maxAttempts: 2\n  heartbeatTimeout: 30s\n")
	yaml.WriteString("repos:\n")
	for _, name := range slices.Sorted(maps.Keys(repos)) {
		yaml.WriteString("  - name: " + name + "\n    url: " + up.URL + "/" + name + "/\n")
	}
	yaml.WriteString(extra)
	cfgPath := filepath.Join(s.dir, "osflow.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(yaml.String()), 0o644))
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)
	s.cfg = cfg

	s.store, err = repo.Open(cfg.Store)
	require.NoError(t, err)
	s.client, err = client.Dial(client.Options{
		HostPort: cfg.Temporal.Address, Namespace: cfg.Temporal.Namespace, Logger: logging.Temporal(zaptest.NewLogger(t)),
	})
	require.NoError(t, err)
	t.Cleanup(s.client.Close)

	s.channels.Config.Handler = repo.Handler(s.store)
	s.channels.Start()
	t.Cleanup(s.channels.Close)
	return s
}

// newSite is newBareSite with a worker running in the test process.
func newSite(t *testing.T, ns string, repos map[string][]upstream.Spec, extra string) *site {
	t.Helper()
	s := newBareSite(t, ns, repos, extra)
	s.startWorker(worker.Options{Main: true, Repo: true})
	return s
}

// startWorker runs a worker of this site in the test process until the
// test ends or stop is called.
func (s *site) startWorker(opts worker.Options) (stop func()) {
	s.t.Helper()
	opts.CacheDir = filepath.Join(s.dir, "cache")
	ws, err := worker.New(s.client, s.cfg, opts, zaptest.NewLogger(s.t))
	require.NoError(s.t, err)
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ws.Run(wctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	s.t.Cleanup(stop)
	return stop
}

// publish (re)builds an upstream repo from specs, replacing any earlier
// build of the same package names, as a distribution's update repo does.
func (s *site) publish(name string, specs ...upstream.Spec) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(s.upstream, name)
	for _, sp := range specs {
		old, err := filepath.Glob(filepath.Join(dir, "Packages", sp.Name+"-[0-9]*.rpm"))
		require.NoError(s.t, err)
		for _, f := range old {
			require.NoError(s.t, os.Remove(f))
		}
	}
	_, err := upstream.BuildSpecs(ctx, specs, dir)
	require.NoError(s.t, err)
	require.NoError(s.t, upstream.Createrepo(ctx, dir))
}

// dnf runs real dnf against an install root, reading only osflow's channel.
func (s *site) dnf(root, channel string, args ...string) string {
	s.t.Helper()
	out, err := s.tryDnf(root, channel, args...)
	require.NoError(s.t, err, "dnf %s: %s", strings.Join(args, " "), out)
	return out
}

// tryDnf is dnf returning its error, for a caller that records a failure
// and goes on (the chaos test's invariants).
func (s *site) tryDnf(root, channel string, args ...string) (string, error) {
	s.t.Helper()
	reposd := filepath.Join(s.dir, "repos.d-"+channel)
	require.NoError(s.t, os.MkdirAll(reposd, 0o755))
	f, err := os.Create(filepath.Join(reposd, "osflow.repo"))
	require.NoError(s.t, err)
	require.NoError(s.t, starter.WriteRepoFile(f, s.cfg, s.store, channel, s.channels.URL+"/"))
	require.NoError(s.t, f.Close())
	return s.runDnf(root, reposd, "dnf-cache", args...)
}

// runDnf runs dnf against an install root with the repos of reposd only,
// caching in the site's directory cache.
func (s *site) runDnf(root, reposd, cache string, args ...string) (string, error) {
	full := append([]string{
		"--installroot=" + root, "--releasever=9", "--setopt=reposdir=" + reposd,
		"--setopt=cachedir=" + filepath.Join(s.dir, cache), "--refresh",
		"--setopt=install_weak_deps=False", "--nogpgcheck", "--assumeyes", "--noplugins",
	}, args...)
	out, err := exec.Command("dnf", full...).CombinedOutput()
	return string(out), err
}

// installed returns the NEVRA rpm reports for a package in an install root.
func installed(t *testing.T, root, name string) string {
	t.Helper()
	out, err := exec.Command("rpm", "--root", root, "-q", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}", name).CombinedOutput()
	require.NoError(t, err, "rpm -q %s: %s", name, out)
	return strings.TrimSpace(string(out))
}
