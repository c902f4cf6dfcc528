package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Issue 16 #7: every key ending in File was taken for a secret, so the
// redactor read monitoring.nagios.commandFile, Nagios's command FIFO.
// Secrets are the keys the config reference declares.
func TestSecretsAreDeclared(t *testing.T) {
	clearTemporalEnv(t)
	dir := t.TempDir()
	for _, f := range []string{"token", "jenkins", "hook", "mail", "am", "api", "tls.key", "tls.crt", "ca.pem"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600))
	}
	fifo := filepath.Join(dir, "nagios.cmd")
	require.NoError(t, syscall.Mkfifo(fifo, 0o660))
	path := filepath.Join(dir, "osflow.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`store: store
temporal:
  tls: {certFile: tls.crt, keyFile: tls.key, caFile: ca.pem}
  apiKeyFile: api
repos:
  - name: site
    overlay: true
testing:
  suites:
    - name: smoke
      jenkins: {url: "https://ci.example.org/", job: smoke, user: osflow, tokenFile: jenkins}
tickets:
  github: {repo: hpc/os, tokenFile: token}
notify:
  webhook: {urlFile: hook}
  smtp: {host: mail.example.org, from: osflow@example.org, to: [hpc@example.org], user: osflow, passwordFile: mail, caFile: ca.pem}
monitoring:
  alertmanager: {url: "http://am.example.org:9093/", matchers: ['cluster="hpc"'], user: osflow, passwordFile: am}
  nagios: {hostgroups: [compute], commandFile: nagios.cmd, statusFile: ca.pem}
`), 0o644))
	done := make(chan struct{})
	var cfg *Config
	var err error
	go func() { cfg, err = Load(path); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Load blocks on the Nagios command FIFO")
	}
	require.NoError(t, err)
	var got []string
	for _, s := range cfg.Secrets() {
		got = append(got, s.Key+"="+strings.TrimPrefix(s.Name, dir+"/"))
	}
	require.Equal(t, []string{
		"temporal.tls.keyFile=tls.key",
		"temporal.apiKeyEnv=TEMPORAL_API_KEY",
		"temporal.apiKeyFile=api",
		"testing.suites[0].jenkins.tokenEnv=JENKINS_TOKEN",
		"testing.suites[0].jenkins.tokenFile=jenkins",
		"tickets.github.tokenEnv=GITHUB_TOKEN",
		"tickets.github.tokenFile=token",
		"notify.webhook.urlEnv=OSFLOW_WEBHOOK_URL",
		"notify.webhook.urlFile=hook",
		"notify.smtp.passwordEnv=OSFLOW_SMTP_PASSWORD",
		"notify.smtp.passwordFile=mail",
		"monitoring.alertmanager.passwordEnv=ALERTMANAGER_PASSWORD",
		"monitoring.alertmanager.passwordFile=am",
	}, got)
}

// A new key ending in File or Env is a secret only when declared so: this
// list makes adding one a decision, not a guess.
func TestEveryFileAndEnvKeyIsClassified(t *testing.T) {
	notSecret := map[string]bool{"certFile": true, "caFile": true, "commandFile": true, "statusFile": true}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] {
			return
		}
		seen[ty] = true
		for i := range ty.NumField() {
			f := ty.Field(i)
			key := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if strings.HasSuffix(key, "File") || strings.HasSuffix(key, "Env") {
				kind := f.Tag.Get("secret")
				require.True(t, notSecret[key] != (kind != ""), "%s.%s (%s): declare it secret:\"file\"/\"env\" or list it here as no secret", ty.Name(), f.Name, key)
				if kind != "" {
					require.Equal(t, map[bool]string{true: "file", false: "env"}[strings.HasSuffix(key, "File")], kind, "%s.%s", ty.Name(), f.Name)
				}
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(Config{}))
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(regular, []byte("  s3cret\n"), 0o600))
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	// A writer holds the FIFO open with a command pending, as a program
	// feeding Nagios would.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	require.NoError(t, err)
	defer w.Close()
	_, err = w.WriteString("[1] DISABLE_NOTIFICATIONS\n")
	require.NoError(t, err)
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, make([]byte, maxSecretSize+1), 0o600))

	for _, tt := range []struct {
		name, file, want, err string
	}{
		{"regular file", regular, "s3cret", ""},
		{"FIFO", fifo, "", fifo + " is a named pipe (FIFO): a secret file must be a regular file"},
		{"device", "/dev/zero", "", "/dev/zero is a device: a secret file must be a regular file"},
		{"directory", dir, "", dir + " is a directory: a secret file must be a regular file"},
		{"too large", big, "", "larger than 1048576 bytes, not a secret"},
		{"missing", filepath.Join(dir, "none"), "", "no such file or directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadSecretFile(tt.file)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	require.NoError(t, err)
	defer r.Close()
	b := make([]byte, 64)
	n, err := r.Read(b)
	require.NoError(t, err)
	require.Equal(t, "[1] DISABLE_NOTIFICATIONS\n", string(b[:n]), "the pending command is still in the FIFO")
}

func TestSecretFileErrors(t *testing.T) {
	clearTemporalEnv(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "nagios.cmd")
	require.NoError(t, syscall.Mkfifo(fifo, 0o660))
	path := filepath.Join(dir, "osflow.yaml")
	require.NoError(t, os.WriteFile(path, []byte("store: s\nrepos:\n  - name: site\n    overlay: true\ntickets:\n  github:\n    repo: hpc/os\n    tokenFile: nagios.cmd\n"), 0o644))
	_, err := Load(path)
	require.ErrorContains(t, err, "osflow.yaml:8: tickets.github.tokenFile: "+fifo+" is a named pipe (FIFO): a secret file must be a regular file")
}
