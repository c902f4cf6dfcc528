// Package helm renders the osflow chart with the pinned helm and checks
// the manifests against the Kubernetes API types (check/, the API
// server's strict decoder), and the osflow.yaml it generates with
// osflow's own configuration loader.
package helm

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/internal/testtool"
)

// kubeVersion is the Kubernetes release the chart is rendered for (a helm
// built with go install assumes 1.20 otherwise): the oldest the chart
// supports is checked, against newer API types.
const kubeVersion = "1.25.0"

// tools finds the pinned helm (make test installs it into bin/) and builds
// the manifest checker.
func tools(t *testing.T) (helm, check string) {
	t.Helper()
	helm, err := filepath.Abs("../../bin/helm")
	require.NoError(t, err)
	if _, err := os.Stat(helm); err != nil {
		testtool.Missing(t, "helm is not installed at "+helm+" (make test installs it)")
	}
	check = filepath.Join(t.TempDir(), "check")
	build := exec.Command("go", "build", "-o", check, ".")
	build.Dir = "check"
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build the manifest checker: %s", out)
	return helm, check
}

func TestChart(t *testing.T) {
	helm, check := tools(t)
	out, err := exec.Command(helm, "lint", "--strict", "--kube-version", kubeVersion, "osflow").CombinedOutput()
	require.NoError(t, err, "helm lint:\n%s", out)

	for _, c := range []struct {
		name   string
		values string
		want   []string // in the rendered manifests
	}{
		{name: "defaults", want: []string{`"--role"`, `"main"`, "kind: PodDisruptionBudget"}},
		{name: "Temporal Cloud with an API key", values: `
temporal:
  address: osflow-site-a.a1b2c.tmprl.cloud:7233
  namespace: osflow-site-a.a1b2c
  taskQueue: osflow
  repoTaskQueue: osflow-repo
  apiKey: {secretName: temporal-cloud, secretKey: api-key}
replicas: 1
secretEnv: [{secretName: osflow-tokens}]
`, want: []string{"name: TEMPORAL_API_KEY", "name: temporal-cloud", "name: osflow-tokens"}},
		{name: "mTLS from a Secret", values: `
temporal:
  address: temporal.example.org:7233
  namespace: site-b
  taskQueue: osflow
  repoTaskQueue: osflow-repo
  tls: {enabled: true, secretName: osflow-client-cert, serverName: temporal.example.org}
`, want: []string{"certFile: /etc/osflow/tls/tls.crt", "secretName: osflow-client-cert", "mountPath: /etc/osflow/tls"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rendered := render(t, helm, c.values)
			for _, w := range c.want {
				require.Contains(t, rendered, w)
			}
			cmd := exec.Command(check, "-")
			cmd.Stdin = strings.NewReader(rendered)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "manifests fail the Kubernetes schema:\n%s\n%s", out, rendered)
			require.Contains(t, string(out), "ok Deployment/osflow-worker")
			require.Contains(t, string(out), "ok ConfigMap/osflow-worker")

			// The certificate files exist only in the pod (the Secret's
			// mount); any other complaint is a bug in the chart.
			cfg := osflowYAML(t, rendered)
			_, err = config.Parse("osflow.yaml", []byte(cfg))
			if err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					require.Regexp(t, `temporal\.tls\.(certFile|keyFile|caFile): cannot read /etc/osflow/tls/`, line, "the chart's osflow.yaml:\n%s", cfg)
				}
			}
		})
	}

	t.Run("bad values are refused", func(t *testing.T) {
		for name, values := range map[string]string{
			"unknown key":            "replica: 3\n",
			"address without a port": "temporal: {address: temporal.example.org, namespace: a, taskQueue: a, repoTaskQueue: b}\n",
			"store in config":        "config: |\n  store: /srv/other\n",
			"tls without a secret":   "temporal: {address: t:7233, namespace: a, taskQueue: a, repoTaskQueue: b, tls: {enabled: true}}\n",
		} {
			f := filepath.Join(t.TempDir(), "values.yaml")
			require.NoError(t, os.WriteFile(f, []byte(values), 0o644))
			out, err := exec.Command(helm, "template", "osflow", "osflow", "--kube-version", kubeVersion, "-f", f).CombinedOutput()
			require.Error(t, err, "%s: helm rendered:\n%s", name, out)
		}
	})

	t.Run("the checker refuses a wrong manifest", func(t *testing.T) {
		rendered := strings.Replace(render(t, helm, ""), "imagePullPolicy:", "imagePulPolicy:", 1)
		cmd := exec.Command(check, "-")
		cmd.Stdin = strings.NewReader(rendered)
		out, err := cmd.CombinedOutput()
		require.Error(t, err)
		require.Contains(t, string(out), "imagePulPolicy")
	})
}

func render(t *testing.T, helm, values string) string {
	t.Helper()
	args := []string{"template", "osflow", "osflow", "--kube-version", kubeVersion}
	if values != "" {
		f := filepath.Join(t.TempDir(), "values.yaml")
		require.NoError(t, os.WriteFile(f, []byte(values), 0o644))
		args = append(args, "-f", f)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helm, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "helm template: %s", stderr.String())
	return stdout.String()
}

// osflowYAML extracts osflow.yaml from the rendered ConfigMap.
func osflowYAML(t *testing.T, rendered string) string {
	t.Helper()
	dec := yaml.NewDecoder(bufio.NewReader(strings.NewReader(rendered)))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind == "ConfigMap" {
			return doc.Data["osflow.yaml"]
		}
	}
	t.Fatal("no ConfigMap in the rendered chart")
	return ""
}
