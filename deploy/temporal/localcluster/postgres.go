package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// postgres is a throwaway PostgreSQL cluster: its own data directory,
// listening on loopback only, run by an unprivileged user.
type postgres struct {
	bin     string // directory of initdb, postgres, psql
	dataDir string
	port    int
	cred    *syscall.Credential // nil when not root: run as ourselves
	proc    *process
}

// postgresBinDir finds the server binaries of the newest installed
// PostgreSQL (Debian installs them outside PATH).
func postgresBinDir() (string, error) {
	dirs, err := filepath.Glob("/usr/lib/postgresql/*/bin")
	if err != nil {
		return "", err
	}
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): install the postgresql package (`make cluster-test` does)")
}

// startPostgres creates a cluster under a new directory in the system temp
// dir (which the unprivileged user can reach, unlike a root-only test
// dir) and starts it on a free loopback port. The superuser "postgres"
// connects over the cluster's own Unix socket without a password; TCP
// connections need a password (scram-sha-256), as in production. When its
// port was taken between the pick and the bind, it is started once more on
// another (logf says so); any other failure quotes the end of its log.
func startPostgres(ctx context.Context, logDir string, logf func(string, ...any)) (_ *postgres, err error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	pg := &postgres{bin: bin}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root; the Debian package created this user.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the unprivileged user postgres (from the postgresql package): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if pg.dataDir, err = os.MkdirTemp("", "osflow-postgres-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			pg.stop()
		}
	}()
	if pg.cred != nil {
		if err := os.Chown(pg.dataDir, int(pg.cred.Uid), int(pg.cred.Gid)); err != nil {
			return nil, err
		}
	}
	if out, err := pg.run(ctx, "initdb", "-D", pg.dataDir, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	logPath := filepath.Join(logDir, "postgres.log")
	for attempt := 1; ; attempt++ {
		if pg.port, err = freePort(nil); err != nil {
			return nil, err
		}
		if err = pg.serve(ctx, logPath); err == nil {
			return pg, nil
		}
		tail := logTail(logPath, startupLogLines)
		if attempt > 1 || !strings.Contains(strings.ToLower(tail), "address already in use") {
			return nil, err
		}
		logf("postgres could not bind port %d (taken since it was picked); starting it again on another. The end of %s:\n%s", pg.port, logPath, tail)
	}
}

// serve starts the server on pg.port and waits until it answers.
func (pg *postgres) serve(ctx context.Context, logPath string) error {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(pg.bin, "postgres"), "-D", pg.dataDir,
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+strconv.Itoa(pg.port),
		"-c", "unix_socket_directories="+pg.dataDir, "-c", "max_connections=200",
		// A test cluster is thrown away: durability buys nothing here.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	cmd.Stdout, cmd.Stderr = log, log
	// Not the test's directory, which the user postgres may not enter.
	cmd.Dir = pg.dataDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred, Pdeathsig: syscall.SIGKILL}
	if pg.proc, err = startProcess(cmd, log); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	deadline := time.After(time.Minute)
	for {
		out, err := pg.psql(ctx, "SELECT 1")
		if err == nil {
			return nil
		}
		if !pg.proc.running() {
			return fmt.Errorf("postgres exited during start-up (%s); the end of %s:\n%s", pg.proc.cmd.ProcessState, logPath, logTail(logPath, startupLogLines))
		}
		select {
		case <-deadline:
			return fmt.Errorf("postgres not ready after a minute: %w: %s; the end of %s:\n%s", err, out, logPath, logTail(logPath, startupLogLines))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// createUser adds the role Temporal connects as; it may create databases,
// which temporal-sql-tool create-database needs.
func (pg *postgres) createUser(ctx context.Context, name, password string) error {
	out, err := pg.psql(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'", name, strings.ReplaceAll(password, "'", "''")))
	if err != nil {
		return fmt.Errorf("create role %s: %w: %s", name, err, out)
	}
	return nil
}

func (pg *postgres) psql(ctx context.Context, sql string) ([]byte, error) {
	return pg.query(ctx, "postgres", sql)
}

// query runs sql as the superuser in database db and returns psql's
// unaligned output, one row a line.
func (pg *postgres) query(ctx context.Context, db, sql string) ([]byte, error) {
	return pg.run(ctx, "psql", "-h", pg.dataDir, "-p", strconv.Itoa(pg.port), "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-Atc", sql)
}

func (pg *postgres) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	path := filepath.Join(pg.bin, tool)
	if _, err := os.Stat(path); err != nil {
		if path, err = exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found: %w", tool, err)
		}
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	cmd.Dir = os.TempDir()
	return cmd.CombinedOutput()
}

// stop shuts the server down ("fast": abort transactions, flush) and
// removes its data.
func (pg *postgres) stop() {
	if pg.proc != nil {
		pg.proc.stop(syscall.SIGINT, 30*time.Second)
	}
	_ = os.RemoveAll(pg.dataDir)
}
