package starter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/workflows"
)

// devServer is `temporal server start-dev` run as a child process.
type devServer struct {
	cmd  *exec.Cmd
	done chan error
}

// devServerArgs builds the start-dev command line: SQLite state under the
// state dir so a second start resumes, and osflow's search attributes.
func devServerArgs(dbFile, namespace string, grpcPort, uiPort int) []string {
	args := []string{"server", "start-dev",
		"--ip", "127.0.0.1",
		"--port", strconv.Itoa(grpcPort),
		"--ui-port", strconv.Itoa(uiPort),
		"--db-filename", dbFile,
		"--namespace", namespace,
		"--log-level", "warn",
	}
	return append(args, DevServerArgs()...)
}

// TransferPollRPS is the rate at which a history shard reads the tasks
// that dispatch workflow and activity tasks. Temporal's default, 20 a
// second with a burst of about ten, made every workflow step after the
// tenth wait some 45 ms for its turn: a DailySync that finds nothing new
// took 0.7 s instead of 0.2 s. Reads happen only when there are new tasks,
// so a higher rate costs an idle cluster nothing.
const TransferPollRPS = 1000

// DevServerArgs are the start-dev flags every osflow dev server gets
// (osflow dev, the tests, the benchmark): osflow's search attributes, in a
// stable order, and TransferPollRPS.
func DevServerArgs() []string {
	return append(SearchAttributeArgs(), "--dynamic-config-value", fmt.Sprintf("history.transferProcessorMaxPollRPS=%d", TransferPollRPS))
}

// SearchAttributeArgs are the start-dev flags that register osflow's
// search attributes, in a stable order.
func SearchAttributeArgs() []string {
	attrs := workflows.SearchAttributes()
	var args []string
	for _, n := range slices.Sorted(maps.Keys(attrs)) {
		args = append(args, "--search-attribute", n+"="+attrs[n])
	}
	return args
}

func startDevServer(cli string, args []string, logPath string) (*devServer, error) {
	if _, err := os.Stat(cli); err != nil {
		return nil, UsageError{fmt.Errorf("temporal CLI not found at %s: run `make run` (it installs it), or set dev.temporalCLI", cli)}
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open Temporal log: %w", err)
	}
	cmd := exec.Command(cli, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The dev server must not outlive osflow dev, even if osflow is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", cli, err)
	}
	s := &devServer{cmd: cmd, done: make(chan error, 1)}
	go func() {
		s.done <- cmd.Wait()
		logFile.Close()
	}()
	return s, nil
}

// waitReady dials until the frontend answers, the server exits, or the deadline passes.
func (s *devServer) waitReady(ctx context.Context, opts client.Options, logPath string) (client.Client, error) {
	deadline := time.Now().Add(90 * time.Second)
	for {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := client.DialContext(dctx, opts)
		cancel()
		if err == nil {
			return c, nil
		}
		select {
		case werr := <-s.done:
			s.done <- werr
			return nil, fmt.Errorf("temporal dev server exited (%v); see %s", werr, logPath)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("temporal dev server not ready at %s after 90s: %w; see %s", opts.HostPort, err, logPath)
		}
	}
}

// stop asks the server to shut down and waits, killing it if it hangs.
func (s *devServer) stop(grace time.Duration) error {
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-s.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil
		}
		return err
	case <-time.After(grace):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		return fmt.Errorf("temporal dev server did not stop within %s; killed", grace)
	}
}

// portFree reports whether addr can be listened on, so that a second
// osflow dev fails with a clear message instead of a dial timeout.
func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is in use (another `osflow dev` or Temporal server running?): %w", addr, err)
	}
	return l.Close()
}
