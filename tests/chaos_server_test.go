package tests

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/starter"
)

// chaosServer is a Temporal dev server of the chaos test's own, on a
// SQLite file, so that the test can SIGKILL it and start it again on the
// same file and port without touching the dev server the other tests
// share.
type chaosServer struct {
	t    *testing.T
	args []string
	addr string
	cmd  *exec.Cmd
	out  *syncBuffer
}

func startChaosServer(t *testing.T, namespace string) *chaosServer {
	t.Helper()
	cli, err := filepath.Abs("../bin/temporal")
	require.NoError(t, err)
	port := freePort(t)
	srv := &chaosServer{t: t, addr: "127.0.0.1:" + strconv.Itoa(port), out: &syncBuffer{}}
	srv.args = append([]string{cli, "server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(port), "--headless",
		"--db-filename", filepath.Join(t.TempDir(), "temporal.db"), "--namespace", namespace, "--log-level", "error",
		"--dynamic-config-value", fmt.Sprintf("limit.historyCount.suggestContinueAsNew=%d", suggestContinueAsNew)},
		starter.DevServerArgs()...)
	srv.start()
	t.Cleanup(func() {
		srv.kill()
		if t.Failed() {
			t.Logf("chaos dev server output:\n%s", srv.out.String())
		}
	})
	return srv
}

// start runs the server and waits until its frontend answers.
func (srv *chaosServer) start() {
	srv.t.Helper()
	srv.cmd = exec.Command(srv.args[0], srv.args[1:]...)
	srv.cmd.Stdout, srv.cmd.Stderr = srv.out, srv.out
	srv.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(srv.t, srv.cmd.Start())
	c, err := client.NewLazyClient(client.Options{HostPort: srv.addr, Namespace: "e2e-chaos"})
	require.NoError(srv.t, err)
	defer c.Close()
	require.Eventually(srv.t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := c.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err == nil
	}, 2*time.Minute, 100*time.Millisecond, "the chaos dev server never answered:\n%s", srv.out)
}

// kill ends the server's process group with SIGKILL.
func (srv *chaosServer) kill() {
	if srv.cmd == nil || srv.cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGKILL)
	_ = srv.cmd.Wait()
}

// restart kills the server and starts it again on the same file and port.
func (srv *chaosServer) restart() {
	srv.kill()
	srv.start()
}
