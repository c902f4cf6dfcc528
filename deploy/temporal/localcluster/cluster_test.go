//go:build cluster

package localcluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"gopkg.in/yaml.v3"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/starter"
)

// repoRoot is where go test runs this package from, three levels down.
const repoRoot = "../../.."

// e2eContinueAsNew matches suggestContinueAsNew in tests/main_test.go: the
// test-cycle e2e test checks that the cycle continued as new.
const e2eContinueAsNew = 60

// TestCluster is `make cluster-test`: a real multi-process Temporal
// cluster on PostgreSQL, osflow's end-to-end tests against it, and the
// history service killed in the middle of a sync run by the real osflow
// binaries (a repo-role and a main-role worker, `osflow sync --wait`).
func TestCluster(t *testing.T) {
	bin := func(env, def string) string {
		if v := os.Getenv(env); v != "" {
			return v
		}
		p, err := filepath.Abs(filepath.Join(repoRoot, def))
		require.NoError(t, err)
		return p
	}
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	dir := t.TempDir()
	var reports reports
	opts := Options{
		Server:        bin("TEMPORAL_SERVER", "bin/temporal-server-v1.29.1/server"),
		SQLTool:       bin("TEMPORAL_SQL_TOOL", "bin/temporal-server-v1.29.1/sql"),
		Root:          root,
		DynamicConfig: testDynamicConfig(t, filepath.Join(root, "dynamicconfig", "production.yaml"), dir),
		Dir:           dir,
		Logf:          reports.logf(t),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	t.Cleanup(func() { dumpLogsOnFailure(t, dir) })
	c, err := Start(ctx, opts)
	require.NoError(t, err, "logs in %s", dir)
	t.Cleanup(c.Stop)
	t.Logf("cluster (PostgreSQL, schemas, 4 services) ready at %s in %s", c.Frontend(), time.Since(began).Round(time.Second))

	t.Run("the configuration with TLS renders", func(t *testing.T) {
		// TLS is not exercised end to end here; the server at least loads
		// and validates the configuration with it turned on.
		// render-config reads --config relative to the working directory.
		cmd := exec.Command(opts.Server, "--config", "config", "--env", "production", "render-config")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), c.Env()...)
		cmd.Env = append(cmd.Env, "TEMPORAL_TLS_FRONTEND_CERT=/etc/temporal/tls/frontend.pem", "TEMPORAL_TLS_FRONTEND_KEY=/etc/temporal/tls/frontend.key",
			"TEMPORAL_TLS_FRONTEND_CA=/etc/temporal/tls/ca.pem", "TEMPORAL_TLS_CLIENT_CA=/etc/temporal/tls/clients.pem")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "requireClientAuth: true")
		require.Contains(t, string(out), "/etc/temporal/tls/clients.pem")
	})

	t.Run("osflow e2e tests on the cluster", func(t *testing.T) {
		cmd := exec.Command("go", "test", "-count=1", "-timeout", "20m",
			"-run", "^(TestDailySyncToDnf|TestCycleFromFailureToCandidate|TestRoutedWorkers|TestTwoSitesOneServer|TestUpgradeWhileWaiting|TestNamespaceSetup)$", "./tests")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "OSFLOW_E2E_TEMPORAL="+c.Frontend(), "OSFLOW_REQUIRE_TOOLS=1")
		out, err := cmd.CombinedOutput()
		t.Logf("go test ./tests against %s:\n%s", c.Frontend(), out)
		require.NoError(t, err)
		require.Contains(t, string(out), "ok  \tgithub.com/osflow/osflow/tests")
	})

	t.Run("history service killed mid-sync", func(t *testing.T) {
		historyKilledMidSync(t, c, bin("OSFLOW_BIN", "bin/osflow"))
	})

	t.Run("a service whose port was taken starts again on fresh ports", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		require.NoError(t, c.KillService("matching"))
		port := envValue(c.Env(), "TEMPORAL_MATCHING_PORT")
		taken, err := net.Listen("tcp", "127.0.0.1:"+port)
		require.NoError(t, err, "take matching's gRPC port")
		defer taken.Close()
		reports.reset()
		require.NoError(t, c.StartService(ctx, "matching"))
		require.NotEqual(t, port, envValue(c.Env(), "TEMPORAL_MATCHING_PORT"))
		got := reports.String()
		require.Contains(t, got, "service matching could not bind a port")
		require.Contains(t, got, "matching.log:\n", "the report quotes matching's log")
		require.Contains(t, got, "127.0.0.1:"+port+": bind: address already in use")
		require.NoError(t, c.ping(ctx))
	})
}

// TestClusterServiceFailureQuotesItsLog starts the history service with a
// wrong database password, as a mistyped temporal.env would: it exits, and
// the error quotes the end of its log, whose directory the test removes.
func TestClusterServiceFailureQuotesItsLog(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	c := &Cluster{procs: map[string]*process{}, opts: Options{
		Server: serverBinary(t, "TEMPORAL_SERVER", "server"), SQLTool: serverBinary(t, "TEMPORAL_SQL_TOOL", "sql"),
		Root: root, DynamicConfig: filepath.Join(root, "dynamicconfig", "production.yaml"), Dir: dir, Shards: 4, Logf: t.Logf,
	}}
	t.Cleanup(c.Stop)
	require.NoError(t, c.prepare(ctx))
	require.NoError(t, c.createSchemas(ctx))
	i := slices.IndexFunc(c.env, func(kv string) bool { return strings.HasPrefix(kv, "TEMPORAL_SQL_PASSWORD=") })
	c.env[i] = "TEMPORAL_SQL_PASSWORD=wrong"
	err = c.startServices(ctx, []string{"history"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "service history exited during start-up (exit status 1); the end of "+filepath.Join(dir, "history.log")+":\n")
	require.Contains(t, err.Error(), "unable to read DB schema version keyspace/database: temporal error: no usable database connection found")
}

// serverBinary is a program of the Temporal server: env's value, or the
// one `make temporal-server` builds into bin/.
func serverBinary(t *testing.T, env, name string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	p, err := filepath.Abs(filepath.Join(repoRoot, "bin/temporal-server-v1.29.1", name))
	require.NoError(t, err)
	return p
}

// reports collects what the cluster said it retried, and logs it.
type reports struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (r *reports) logf(t *testing.T) func(string, ...any) {
	return func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		t.Log(msg)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.buf.WriteString(msg + "\n")
	}
}

func (r *reports) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf.Reset()
}

func (r *reports) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// historyKilledMidSync runs a site with the real osflow binaries: a
// repo-role and a main-role worker, and `osflow sync --wait`. The upstream
// holds every package download until the history service has been killed;
// the downloads then finish (and the sync tries to report) while history
// is down, history restarts, and the sync completes with a release.
func historyKilledMidSync(t *testing.T, c *Cluster, osflow string) {
	dir := t.TempDir()
	t.Cleanup(func() { dumpLogsOnFailure(t, dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	up := filepath.Join(dir, "upstream", "baseos")
	var specs []upstream.Spec
	for i := range 6 {
		specs = append(specs, upstream.Spec{Name: fmt.Sprintf("hpc-node-%d", i), Version: "1.0", Release: "1", Summary: "cluster test package"})
	}
	_, err := upstream.BuildSpecs(ctx, specs, up)
	require.NoError(t, err)
	require.NoError(t, upstream.Createrepo(ctx, up))

	gate := newGate(len(specs))
	srv := httptest.NewServer(gate.wrap(http.FileServer(http.Dir(filepath.Join(dir, "upstream")))))
	t.Cleanup(srv.Close)
	t.Cleanup(gate.open)

	cfg := filepath.Join(dir, "osflow.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`store: %s
temporal:
  address: %s
  namespace: cluster-restart
tickets:
  dir: %s
log:
  format: console
  level: info
sync:
  heartbeatTimeout: 30s
repos:
  - name: baseos
    url: %s/baseos/
`, filepath.Join(dir, "store"), c.Frontend(), filepath.Join(dir, "tickets"), srv.URL)), 0o644))

	osflowCmd := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, osflow, append([]string{"--config", cfg}, args...)...)
		cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
		return cmd
	}
	out, err := osflowCmd("namespace", "setup", "--retention", "24h").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "namespace cluster-restart created")

	for _, role := range []string{"repo", "main"} {
		w := osflowCmd("worker", "--role", role)
		logf, err := os.Create(filepath.Join(dir, "worker-"+role+".log"))
		require.NoError(t, err)
		w.Stdout, w.Stderr = logf, logf
		require.NoError(t, w.Start())
		t.Cleanup(func() { _ = w.Process.Signal(os.Interrupt); _ = w.Wait(); logf.Close() })
	}

	sync := osflowCmd("--json", "sync", "--wait", "--reason", "cluster test")
	var syncOut strings.Builder
	sync.Stdout, sync.Stderr = &syncOut, &syncOut
	require.NoError(t, sync.Start())
	syncDone := make(chan error, 1)
	go func() { syncDone <- sync.Wait() }()

	select {
	case <-gate.first:
	case err := <-syncDone:
		t.Fatalf("sync ended before downloading a package: %v\n%s", err, syncOut.String())
	case <-ctx.Done():
		t.Fatalf("no package download started: %s", syncOut.String())
	}
	require.NoError(t, c.KillService("history"))
	t.Log("history service killed while the sync downloads")
	cl, err := client.Dial(client.Options{HostPort: c.Frontend(), Namespace: "cluster-restart"})
	require.NoError(t, err)
	defer cl.Close()
	dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = cl.DescribeWorkflowExecution(dctx, starter.ManualSyncWorkflowID, "")
	dcancel()
	require.Error(t, err, "with history down the sync's state must be out of reach")
	gate.open()
	select {
	case <-gate.all:
	case <-ctx.Done():
		t.Fatal("the downloads never finished")
	}
	require.NoError(t, c.StartService(ctx, "history"))
	t.Log("history service restarted")

	select {
	case err := <-syncDone:
		require.NoError(t, err, "osflow sync --wait:\n%s", syncOut.String())
	case <-ctx.Done():
		t.Fatalf("the sync did not complete after the history restart:\n%s", syncOut.String())
	}
	var last map[string]any
	sc := bufio.NewScanner(strings.NewReader(syncOut.String()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			last = line
		}
	}
	require.NotNil(t, last, "no JSON from osflow sync --wait --json:\n%s", syncOut.String())
	t.Logf("last line of osflow sync: %v", last)
	require.Equal(t, "done", last["event"])
	require.Equal(t, "done", last["data"].(map[string]any)["Phase"])

	st, err := repo.Open(filepath.Join(dir, "store"))
	require.NoError(t, err)
	serving, err := st.Channel("testing")
	require.NoError(t, err)
	require.NotEmpty(t, serving, "the sync must have switched testing")

	var status starter.Status
	out, err = osflowCmd("--json", "status").Output()
	require.NoError(t, err, "%s", out)
	require.NoError(t, json.Unmarshal(out, &status))
	require.NotEmpty(t, status.Recent)
	require.Equal(t, "Completed", status.Recent[0].Status)
	require.Equal(t, serving, status.Recent[0].Release)
}

// gate holds every .rpm download until opened, and reports the first
// request and the moment all n packages have been sent.
type gate struct {
	n               int
	sent            atomic.Int32
	first, all, rel chan struct{}
	onceFirst       sync.Once
	onceAll         sync.Once
	onceOpen        sync.Once
}

func newGate(n int) *gate {
	return &gate{n: n, first: make(chan struct{}), all: make(chan struct{}), rel: make(chan struct{})}
}

func (g *gate) open() { g.onceOpen.Do(func() { close(g.rel) }) }

func (g *gate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, ".rpm") {
			h.ServeHTTP(w, r)
			return
		}
		g.onceFirst.Do(func() { close(g.first) })
		select {
		case <-g.rel:
		case <-r.Context().Done():
			return
		}
		h.ServeHTTP(w, r)
		if int(g.sent.Add(1)) >= g.n {
			g.onceAll.Do(func() { close(g.all) })
		}
	})
}

// testDynamicConfig is the production dynamic config plus what the e2e
// tests need: the test cycle's namespace continues as new early.
func testDynamicConfig(t *testing.T, production, dir string) string {
	b, err := os.ReadFile(production)
	require.NoError(t, err)
	dc := map[string][]map[string]any{}
	require.NoError(t, yaml.Unmarshal(b, &dc))
	const key = "limit.historyCount.suggestContinueAsNew"
	dc[key] = append([]map[string]any{{"value": e2eContinueAsNew, "constraints": map[string]any{"namespace": "e2e-cycle"}}}, dc[key]...)
	out, err := yaml.Marshal(dc)
	require.NoError(t, err)
	path := filepath.Join(dir, "dynamicconfig.yaml")
	require.NoError(t, os.WriteFile(path, out, 0o644))
	return path
}

// dumpLogsOnFailure prints the tail of every log of a failed run.
func dumpLogsOnFailure(t *testing.T, dir string) {
	if !t.Failed() {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		t.Logf("--- %s (tail)\n%s", l, b)
	}
}
