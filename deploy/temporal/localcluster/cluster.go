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
}

// Cluster is a running local cluster.
type Cluster struct {
	opts     Options
	pg       *postgres
	env      []string
	frontend string
	procs    map[string]*process
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
	if c.pg, err = startPostgres(ctx, opts.Dir); err != nil {
		return nil, err
	}
	password, err := randomPassword()
	if err != nil {
		return nil, err
	}
	if err := c.pg.createUser(ctx, "temporal", password); err != nil {
		return nil, err
	}
	c.env = []string{
		"TEMPORAL_SQL_HOST=127.0.0.1",
		"TEMPORAL_SQL_PORT=" + strconv.Itoa(c.pg.port),
		"TEMPORAL_SQL_USER=temporal",
		"TEMPORAL_SQL_PASSWORD=" + password,
		"TEMPORAL_NUM_HISTORY_SHARDS=" + strconv.Itoa(opts.Shards),
		"TEMPORAL_DYNAMIC_CONFIG=" + opts.DynamicConfig,
		"TEMPORAL_BIND_IP=127.0.0.1",
		"TEMPORAL_BROADCAST_ADDRESS=127.0.0.1",
		"TEMPORAL_LOG_LEVEL=warn",
	}
	ports, err := freePorts()
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(ports)) {
		c.env = append(c.env, name+"="+strconv.Itoa(ports[name]))
	}
	c.frontend = "127.0.0.1:" + strconv.Itoa(ports["TEMPORAL_FRONTEND_PORT"])
	if err := c.createSchemas(ctx); err != nil {
		return nil, err
	}
	for _, svc := range Services() {
		if err := c.StartService(svc); err != nil {
			return nil, err
		}
	}
	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Frontend is the host:port clients dial.
func (c *Cluster) Frontend() string { return c.frontend }

// Env is the environment the services run with (the secrets of a test
// cluster only), for running the SQL tool or a service by hand.
func (c *Cluster) Env() []string { return append([]string(nil), c.env...) }

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

// StartService starts one service process (again, after KillService).
func (c *Cluster) StartService(svc string) error {
	if c.Running(svc) {
		return fmt.Errorf("service %s is running", svc)
	}
	log, err := os.OpenFile(filepath.Join(c.opts.Dir, svc+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.opts.Server, "--root", c.opts.Root, "--config", "config", "--env", "production",
		"--allow-no-auth", "start", "--service", svc)
	cmd.Env = append(os.Environ(), c.env...)
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
				return fmt.Errorf("service %s exited during start-up; see %s", svc, filepath.Join(c.opts.Dir, svc+".log"))
			}
		}
		if last = c.ping(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ready: %w (logs in %s)", last, c.opts.Dir)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (c *Cluster) ping(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := client.DialContext(dctx, client.Options{HostPort: c.frontend, Namespace: "temporal-system"})
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
