// Package tests holds osflow's end-to-end tests: a real Temporal dev server,
// the real worker, real RPM repos built with rpmbuild and createrepo_c, and
// real dnf installing from the published channels.
package tests

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/osflow/osflow/starter"
)

// devServer is shared by every test in the package; each test isolates
// itself in a namespace of its own (the workflow IDs osflow uses, such as
// test-cycle, are fixed), with its own store and worker.
var devServer *testsuite.DevServer

// webUI is the dev server's Web UI, "" on a cluster.
var webUI string

// pickPort is a TCP port nothing listens on now.
func pickPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// namespaces are registered when the dev server starts: one per test.
var namespaces = []string{"e2e-sync", "e2e-hostile", "e2e-schedule", "e2e-cycle", "e2e-recovery", "e2e-promotion",
	"e2e-routing", "e2e-site-a", "e2e-site-b", "e2e-upgrade", "e2e-bypass", "e2e-bypass-named", "e2e-sources", "e2e-sources-auto", "e2e-sources-retry",
	"e2e-nagios", "e2e-shadow", "e2e-control", "e2e-task-restart", "e2e-noworker", "e2e-signed", "e2e-tree", "e2e-report", "e2e-net", "e2e-signed-bypass", "e2e-webui", "e2e-isolation", "e2e-suite-kill", "e2e-operator-paths"}

// suggestContinueAsNew is set low so that the test cycle continues as new
// during the end-to-end run, as it does after weeks in production.
const suggestContinueAsNew = 60

func TestMain(m *testing.M) {
	if url := os.Getenv(fetcherEnv); url != "" {
		os.Exit(runFetcher(url))
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if addr := os.Getenv(clusterEnv); addr != "" {
		return runOnCluster(m, addr)
	}
	cli, err := filepath.Abs("../bin/temporal")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := os.Stat(cli); err != nil {
		fmt.Fprintf(os.Stderr, "the Temporal CLI is missing at %s: run `make test`, which installs it\n", cli)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	port, err := pickPort()
	uiPort := strconv.Itoa(port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	devServer, err = testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  cli,
		ClientOptions: &client.Options{Namespace: "default"},
		LogLevel:      "error",
		ExtraArgs:     devServerArgs(),
		// The Web UI, for the browser test (webui_test.go).
		EnableUI: true,
		UIPort:   uiPort,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "start Temporal dev server: %v\n", err)
		return 1
	}
	frontend = devServer.FrontendHostPort()
	webUI = "http://127.0.0.1:" + uiPort
	code := m.Run()
	if err := devServer.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop Temporal dev server: %v\n", err)
	}
	return code
}

func devServerArgs() []string {
	args := starter.DevServerArgs()
	for _, ns := range namespaces {
		args = append(args, "--namespace", ns)
	}
	return append(args, "--dynamic-config-value", fmt.Sprintf("limit.historyCount.suggestContinueAsNew=%d", suggestContinueAsNew))
}
