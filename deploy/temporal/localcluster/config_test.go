package localcluster

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEnvFileListsEveryVariable keeps temporal.env, the file operators
// fill in, in step with the variables config/production.yaml reads.
func TestEnvFileListsEveryVariable(t *testing.T) {
	tmpl, err := os.ReadFile("../config/production.yaml")
	require.NoError(t, err)
	env, err := os.ReadFile("../temporal.env")
	require.NoError(t, err)
	names := func(re string, b []byte) []string {
		var out []string
		for _, m := range regexp.MustCompile(re).FindAllSubmatch(b, -1) {
			if !slices.Contains(out, string(m[1])) {
				out = append(out, string(m[1]))
			}
		}
		slices.Sort(out)
		return out
	}
	read := names(`env "(TEMPORAL_[A-Z0-9_]+)"`, tmpl)
	require.NotEmpty(t, read)
	require.Equal(t, read, names(`(?m)^#?(TEMPORAL_[A-Z0-9_]+)=`, env))
	ports, err := freePorts()
	require.NoError(t, err)
	for name := range ports {
		require.Contains(t, read, name, "localcluster sets a variable production.yaml does not read")
	}
}
