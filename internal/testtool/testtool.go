// Package testtool lets tests that drive real programs (rpmbuild, dnf, gpg,
// zstd...) say what they need. Under `make test`, which installs every such
// program, a missing one fails the test; a bare `go test` on a workstation
// without them skips instead.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// RequireEnv is set by `make test` (and so by CI): every tool must be there.
const RequireEnv = "OSFLOW_REQUIRE_TOOLS"

// Need stops the test when a tool is not in PATH: a failure when RequireEnv
// is set, a skip otherwise.
func Need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			Missing(t, tool+" is not installed (make test installs it)")
		}
	}
}

// Missing reports a missing prerequisite described by why.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s; %s is set, so this is a failure, not a skip", why, RequireEnv)
	}
	t.Skip(why)
}
