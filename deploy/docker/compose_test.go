// Package docker checks docker-compose.yml, which cannot run here, for
// consistency with the configurations that the other tests do run.
package docker

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/osflow/osflow/starter"
)

type service struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
}

func TestComposeMatchesTestedConfiguration(t *testing.T) {
	b, err := os.ReadFile("docker-compose.yml")
	require.NoError(t, err)
	var compose struct {
		Services map[string]service `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(b, &compose))

	tmpl, err := os.ReadFile("../temporal/config/production.yaml")
	require.NoError(t, err)
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`env "(TEMPORAL_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(tmpl), -1) {
		known[m[1]] = true
	}
	require.NotEmpty(t, known)

	for _, svc := range []string{"history", "matching", "frontend", "worker"} {
		s, ok := compose.Services["temporal-"+svc]
		require.True(t, ok, "no temporal-%s service", svc)
		require.Equal(t, "temporalio/server:1.29.1", s.Image, "the server version cluster-test runs")
		cmd := strings.Join(s.Command, " ")
		require.Contains(t, cmd, "--config config --env production")
		require.Contains(t, cmd, "--service "+svc)
		require.Contains(t, cmd, "TEMPORAL_BROADCAST_ADDRESS=")
		for k := range s.Environment {
			require.True(t, known[k], "temporal-%s sets %s, which production.yaml does not read", svc, k)
		}
		require.Contains(t, s.Environment, "TEMPORAL_SQL_PASSWORD")
		checkMounts(t, "temporal-"+svc, s.Volumes)
	}
	schema := strings.Join(compose.Services["temporal-schema"].Command, "\n")
	for _, name := range []string{"postgresql/v12/temporal", "postgresql/v12/visibility", "create-database", "setup-schema -v 0.0", "update-schema"} {
		require.Contains(t, schema, name, "the schema steps localcluster runs")
	}

	for name, args := range map[string][]string{
		"osflow-namespace": compose.Services["osflow-namespace"].Command,
		"osflow-repo":      compose.Services["osflow-repo"].Command,
		"osflow-main":      compose.Services["osflow-main"].Command,
	} {
		cmd, rest, err := starter.NewRootCommand(os.Stdout, os.Stderr).Find(args)
		require.NoError(t, err, "%s: %v", name, args)
		require.NoError(t, cmd.ParseFlags(rest), "%s: %v", name, args)
		require.True(t, cmd.Runnable(), "%s: %v is not a command", name, args)
	}
	require.True(t, slices.Contains(compose.Services["osflow-repo"].Volumes, "store:/srv/osflow"), "the repo role mounts the store")
	require.False(t, slices.ContainsFunc(compose.Services["osflow-main"].Volumes, func(v string) bool { return strings.HasPrefix(v, "store:") }),
		"the main role never touches the store")

	nginx := compose.Services["nginx"]
	checkMounts(t, "nginx", nginx.Volumes)
	conf, err := os.ReadFile("../web/nginx-osflow-channels.conf")
	require.NoError(t, err)
	require.Contains(t, string(conf), "/etc/nginx/njs/osflow-channels.js")
	require.Contains(t, nginx.Volumes, "../web/osflow-channels.js:/etc/nginx/njs/osflow-channels.js:ro")
	require.Contains(t, string(conf), "set $osflow_store /srv/osflow;")
	require.Contains(t, nginx.Volumes, "store:/srv/osflow:ro")
}

// checkMounts requires every file mounted from the repository to exist.
func checkMounts(t *testing.T, svc string, volumes []string) {
	t.Helper()
	for _, v := range volumes {
		src, _, _ := strings.Cut(v, ":")
		if strings.HasPrefix(src, ".") {
			_, err := os.Stat(filepath.FromSlash(src))
			require.NoError(t, err, "%s mounts %s", svc, src)
		}
	}
}
