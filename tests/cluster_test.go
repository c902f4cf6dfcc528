package tests

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/starter"
)

// clusterEnv points the end-to-end tests at an existing Temporal cluster
// (frontend host:port) instead of a dev server of their own; `make
// cluster-test` runs the DailySync and test-cycle tests so, against
// PostgreSQL and separate frontend, history, matching and worker services.
// The tests' namespaces and osflow's search attributes are created there if
// missing. The test cycle's continue-as-new check needs the cluster's
// dynamic config to set limit.historyCount.suggestContinueAsNew to
// suggestContinueAsNew for namespace e2e-cycle.
const clusterEnv = "OSFLOW_E2E_TEMPORAL"

// frontend is the address of the Temporal frontend every test dials.
var frontend string

func runOnCluster(m *testing.M, addr string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: addr})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s=%s: %v\n", clusterEnv, addr, err)
		return 1
	}
	for _, ns := range namespaces {
		if _, err := starter.SetupNamespace(ctx, c, ns, 24*time.Hour); err != nil {
			c.Close()
			fmt.Fprintf(os.Stderr, "%s=%s: %v\n", clusterEnv, addr, err)
			return 1
		}
	}
	c.Close()
	frontend = addr
	return m.Run()
}
