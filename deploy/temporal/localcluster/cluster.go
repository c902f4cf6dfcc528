// Package localcluster runs a real multi-process Temporal cluster on one
// machine for osflow's cluster test: a PostgreSQL cluster of its own, the
// schemas created and updated with temporal-sql-tool, and the frontend,
// history, matching and worker services as separate temporal-server
// processes, all configured by deploy/temporal's production configuration
// through its environment variables. Services can be killed and restarted
// to test what survives.
package localcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// Services are Temporal's four services, in start order.
func Services() []string { return []string{"history", "matching", "frontend", "worker"} }

// Options locate the binaries and the configuration.
type Options struct {
	// Server is the temporal-server binary (go.temporal.io/server/cmd/server).
	Server string
	// SQLTool is temporal-sql-tool (go.temporal.io/server/cmd/tools/sql).
	SQLTool string
	// Root holds config/production.yaml (deploy/temporal).
	Root string
	// DynamicConfig is the dynamic config file the services read.
	DynamicConfig string
	// Dir receives the services' logs.
	Dir string
	// Shards is persistence.numHistoryShards (default 4: enough for a test).
	Shards int
	// Logf, when set, is told what start-up had to do again, and why.
	Logf func(format string, args ...any)
}

// Cluster is a running local cluster.
type Cluster struct {
	opts  Options
	pg    *postgres
	env   []string       // the services' environment, but for the ports
	ports map[string]int // the services' ports, by environment variable
	procs map[string]*process
}

// process is one child; exited is closed when it has been reaped.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func startProcess(cmd *exec.Cmd, log *os.File) (*process, error) {
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); log.Close(); close(p.exited) }()
	return p, nil
}

func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends sig and waits for the process to go, killing it after grace.
func (p *process) stop(sig os.Signal, grace time.Duration) {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Start brings the whole cluster up and returns once the frontend answers
// and the system namespace is usable. On error everything started is stopped.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.Shards == 0 {
		opts.Shards = 4
	}
	for _, f := range []string{opts.Server, opts.SQLTool, filepath.Join(opts.Root, "config", "production.yaml"), opts.DynamicConfig} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("local cluster: %w", err)
		}
	}
	c := &Cluster{opts: opts, procs: map[string]*process{}}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if err := c.prepare(ctx); err != nil {
		return nil, err
	}
	if err := c.createSchemas(ctx); err != nil {
		return nil, err
	}
	// History starts alone. A service that finds no cluster metadata
	// record creates it, and the system namespace; two doing so at once
	// both insert the record and the second exits ("failed to initialize
	// current cluster metadata"), which failed one start in five or eight
	// when all four started together. A service that has joined the
	// membership is past that.
	if err := c.startServices(ctx, Services()[:1]); err != nil {
		return nil, err
	}
	if err := c.startServices(ctx, Services()[1:]); err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// prepare starts PostgreSQL, creates the role Temporal connects as, and
// sets the services' environment and ports.
func (c *Cluster) prepare(ctx context.Context) (err error) {
	if c.pg, err = startPostgres(ctx, c.opts.Dir, c.logf); err != nil {
		return err
	}
	password, err := randomPassword()
	if err != nil {
		return err
	}
	if err := c.pg.createUser(ctx, "temporal", password); err != nil {
		return err
	}
	c.env = []string{
		"TEMPORAL_SQL_HOST=127.0.0.1",
		"TEMPORAL_SQL_PORT=" + strconv.Itoa(c.pg.port),
		"TEMPORAL_SQL_USER=temporal",
		"TEMPORAL_SQL_PASSWORD=" + password,
		"TEMPORAL_NUM_HISTORY_SHARDS=" + strconv.Itoa(c.opts.Shards),
		"TEMPORAL_DYNAMIC_CONFIG=" + c.opts.DynamicConfig,
		"TEMPORAL_BIND_IP=127.0.0.1",
		"TEMPORAL_BROADCAST_ADDRESS=127.0.0.1",
		"TEMPORAL_LOG_LEVEL=warn",
	}
	c.ports, err = freePorts()
	return err
}

// Frontend is the host:port clients dial.
func (c *Cluster) Frontend() string {
	return "127.0.0.1:" + strconv.Itoa(c.ports["TEMPORAL_FRONTEND_PORT"])
}

// Env is the environment the services run with (the secrets of a test
// cluster only), for running the SQL tool or a service by hand.
func (c *Cluster) Env() []string {
	env := append([]string(nil), c.env...)
	for _, name := range slices.Sorted(maps.Keys(c.ports)) {
		env = append(env, name+"="+strconv.Itoa(c.ports[name]))
	}
	return env
}

func (c *Cluster) logf(format string, args ...any) {
	if c.opts.Logf != nil {
		c.opts.Logf(format, args...)
	}
}

// createSchemas runs what a site runs once per database (and again, with
// update-schema only, after each Temporal upgrade).
func (c *Cluster) createSchemas(ctx context.Context) error {
	for _, db := range []struct{ name, schema string }{
		{"temporal", "postgresql/v12/temporal"},
		{"temporal_visibility", "postgresql/v12/visibility"},
	} {
		for _, args := range [][]string{
			{"create-database"},
			{"setup-schema", "-v", "0.0"},
			{"update-schema", "--schema-name", db.schema},
		} {
			full := append([]string{"--plugin", "postgres12", "--ep", "127.0.0.1", "-p", strconv.Itoa(c.pg.port),
				"-u", "temporal", "--db", db.name}, args...)
			cmd := exec.CommandContext(ctx, c.opts.SQLTool, full...)
			// The password goes through the environment, never the command line.
			cmd.Env = append(os.Environ(), "SQL_PASSWORD="+envValue(c.env, "TEMPORAL_SQL_PASSWORD"))
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("temporal-sql-tool %s on %s: %w: %s", args[0], db.name, err, out)
			}
		}
	}
	return nil
}

// StartService starts one service (again, after KillService) and waits
// until it has joined the cluster, as Start does for each.
func (c *Cluster) StartService(ctx context.Context, svc string) error {
	return c.startServices(ctx, []string{svc})
}

// startServices starts services and waits until each has joined the
// cluster's membership. A service that exits first because a port it was
// given was taken in the meantime (by another program: they were free when
// picked) is started once more on fresh ports; any other exit is an error
// that quotes the end of the service's log.
func (c *Cluster) startServices(ctx context.Context, svcs []string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	earlier := map[string][]string{} // membership records before the start
	launch := func(svc string) error {
		hosts, err := c.members(ctx, svc)
		if err != nil {
			return err
		}
		earlier[svc] = hosts
		return c.launch(svc)
	}
	for _, svc := range svcs {
		if err := launch(svc); err != nil {
			return err
		}
	}
	retried := map[string]bool{}
	pending := slices.Clone(svcs)
	for len(pending) > 0 {
		for _, svc := range slices.Clone(pending) {
			if !c.Running(svc) {
				tail := logTail(c.logPath(svc), startupLogLines)
				if retried[svc] || !strings.Contains(tail, "address already in use") {
					return c.exitError(svc)
				}
				retried[svc] = true
				if err := freshPorts(c.ports, svc); err != nil {
					return err
				}
				c.logf("service %s could not bind a port (taken since it was picked); starting it again on fresh ports. The end of %s:\n%s",
					svc, c.logPath(svc), tail)
				if err := launch(svc); err != nil {
					return err
				}
				continue
			}
			hosts, err := c.members(ctx, svc)
			if err == nil && slices.ContainsFunc(hosts, func(h string) bool { return !slices.Contains(earlier[svc], h) }) {
				pending = slices.DeleteFunc(pending, func(s string) bool { return s == svc })
			}
		}
		if len(pending) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			var tails strings.Builder
			for _, svc := range pending {
				fmt.Fprintf(&tails, "\nthe end of %s:\n%s", c.logPath(svc), logTail(c.logPath(svc), startupLogLines))
			}
			return fmt.Errorf("services %s did not join the cluster in time%s", strings.Join(pending, ", "), tails.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// members lists the host IDs in the membership records on a service's
// membership port (Temporal's cluster_membership table): a service process
// adds one, under a host ID of its own, once it has its ports, the
// cluster metadata and the system namespace.
func (c *Cluster) members(ctx context.Context, svc string) ([]string, error) {
	port := c.ports[membershipPortVar(svc)]
	out, err := c.pg.query(ctx, "temporal", fmt.Sprintf("SELECT encode(host_id, 'hex') FROM cluster_membership WHERE rpc_port = %d", port))
	if err != nil {
		return nil, fmt.Errorf("read the membership of %s: %w: %s", svc, err, out)
	}
	return strings.Fields(string(out)), nil
}

// startupLogLines is how much of a service's log a start-up failure quotes.
const startupLogLines = 30

// exitError says that a service exited, with the end of its log: the log's
// directory is often a test's, gone by the time anyone reads the failure.
func (c *Cluster) exitError(svc string) error {
	state := "never started"
	if p := c.procs[svc]; p != nil && p.cmd.ProcessState != nil {
		state = p.cmd.ProcessState.String()
	}
	return fmt.Errorf("service %s exited during start-up (%s); the end of %s:\n%s", svc, state, c.logPath(svc), logTail(c.logPath(svc), startupLogLines))
}

func (c *Cluster) logPath(svc string) string { return filepath.Join(c.opts.Dir, svc+".log") }

// launch starts one service's process.
func (c *Cluster) launch(svc string) error {
	if c.Running(svc) {
		return fmt.Errorf("service %s is running", svc)
	}
	log, err := os.OpenFile(c.logPath(svc), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.opts.Server, "--root", c.opts.Root, "--config", "config", "--env", "production",
		"--allow-no-auth", "start", "--service", svc)
	cmd.Env = append(os.Environ(), c.Env()...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p, err := startProcess(cmd, log)
	if err != nil {
		return fmt.Errorf("start %s service: %w", svc, err)
	}
	c.procs[svc] = p
	return nil
}

// KillService kills one service with SIGKILL, as a crashed host would, and
// waits until it is gone.
func (c *Cluster) KillService(svc string) error {
	p := c.procs[svc]
	if p == nil {
		return fmt.Errorf("service %s was never started", svc)
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", svc, err)
	}
	<-p.exited
	return nil
}

// Running reports whether a service's process is alive.
func (c *Cluster) Running(svc string) bool {
	p := c.procs[svc]
	return p != nil && p.running()
}

// waitReady polls until the frontend answers and reaches history and
// persistence (listing namespaces goes through both), or a service dies.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var last error
	for {
		for _, svc := range Services() {
			if !c.Running(svc) {
				return c.exitError(svc)
			}
		}
		if last = c.ping(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ready: %w; the end of %s:\n%s", last, c.logPath("frontend"), logTail(c.logPath("frontend"), startupLogLines))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (c *Cluster) ping(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := client.DialContext(dctx, client.Options{HostPort: c.Frontend(), Namespace: "temporal-system"})
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = cl.WorkflowService().DescribeNamespace(dctx, &workflowservice.DescribeNamespaceRequest{Namespace: "temporal-system"})
	return err
}

// Stop ends every service (SIGTERM, then SIGKILL after 30s) and PostgreSQL,
// and deletes the database files.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, p := range c.procs {
		wg.Go(func() { p.stop(syscall.SIGTERM, 30*time.Second) })
	}
	wg.Wait()
	if c.pg != nil {
		c.pg.stop()
	}
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if len(kv) > len(key) && kv[:len(key)+1] == key+"=" {
			return kv[len(key)+1:]
		}
	}
	return ""
}

func randomPassword() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
