package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// writeConfig writes text as osflow.yaml in a fresh directory that also holds
// a key file "RPM-GPG-KEY-test", and returns the config's path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "RPM-GPG-KEY-test"), []byte("key"), 0o644))
	path := filepath.Join(dir, "osflow.yaml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func clearTemporalEnv(t *testing.T) {
	for _, k := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA", "TEMPORAL_TLS_SERVER_NAME"} {
		t.Setenv(k, "")
	}
}

const fullConfig = `store: store
temporal:
  address: temporal.example.org:7233
  namespace: hpc
  taskQueue: q
  repoTaskQueue: q-repo
  tls:
    certFile: RPM-GPG-KEY-test
    keyFile: RPM-GPG-KEY-test
    serverName: temporal.example.org
  apiKeyEnv: MY_KEY
http:
  listen: 0.0.0.0:80
  baseURL: https://repo.example.org/osflow
metrics:
  listen: 127.0.0.1:9464
log:
  format: console
  level: debug
schedule:
  cron: ["30 2 * * mon-fri", "0 */6 1,15 jan-jun 0"]
  timeZone: Europe/Berlin
  jitter: 15m
  paused: true
sync:
  concurrency: 8
  timeout: 90m
  heartbeatTimeout: 90s
  maxAttempts: 3
channels:
  daily: nightly
  testing: test
  production: prod
repos:
  - name: baseos
    url: https://mirror.example.org/rocky/9/BaseOS/x86_64/os
    gpgKey: RPM-GPG-KEY-test
    description: Rocky BaseOS
  - name: epel
    url: file:///srv/epel
    gpgKey: RPM-GPG-KEY-test
    requireSignature: false
  - name: site
    overlay: true
gc:
  keepSnapshots: 30
  minAge: 336h
dev:
  stateDir: state
  upstreamSpecs: specs
  upstreamListen: 127.0.0.1:9000
  temporalCLI: temporal
  grpcPort: 7000
  uiPort: 7001
`

func TestLoadFullConfig(t *testing.T) {
	clearTemporalEnv(t)
	path := writeConfig(t, fullConfig)
	dir := filepath.Dir(path)
	key := filepath.Join(dir, "RPM-GPG-KEY-test")
	yes, no := true, false

	c, err := Load(path)
	require.NoError(t, err)
	want := &Config{
		Path:  path,
		Store: filepath.Join(dir, "store"),
		Temporal: Temporal{
			Address: "temporal.example.org:7233", Namespace: "hpc", TaskQueue: "q", RepoTaskQueue: "q-repo",
			TLS:       &TLS{CertFile: key, KeyFile: key, ServerName: "temporal.example.org"},
			APIKeyEnv: "MY_KEY",
		},
		HTTP:    HTTP{Listen: "0.0.0.0:80", BaseURL: "https://repo.example.org/osflow/"},
		Metrics: Metrics{Listen: "127.0.0.1:9464"},
		Log:     Log{Format: "console", Level: "debug"},
		Schedule: Schedule{
			Cron:     []string{"30 2 * * mon-fri", "0 */6 1,15 jan-jun 0"},
			TimeZone: "Europe/Berlin", Jitter: Duration{15 * time.Minute}, Paused: true,
		},
		Sync:     Sync{Concurrency: 8, Timeout: Duration{90 * time.Minute}, HeartbeatTimeout: Duration{90 * time.Second}, MaxAttempts: 3},
		Channels: Channels{Daily: "nightly", Testing: "test", Production: "prod"},
		Repos: []Repo{
			{Name: "baseos", URL: "https://mirror.example.org/rocky/9/BaseOS/x86_64/os/", GPGKey: key, RequireSignature: &yes, Description: "Rocky BaseOS"},
			{Name: "epel", URL: "file:///srv/epel/", GPGKey: key, RequireSignature: &no},
			{Name: "site", Overlay: true},
		},
		GC: GC{KeepSnapshots: 30, MinAge: Duration{336 * time.Hour}},
		Dev: Dev{
			StateDir: filepath.Join(dir, "state"), UpstreamSpecs: filepath.Join(dir, "specs"),
			UpstreamListen: "127.0.0.1:9000", TemporalCLI: "temporal", GRPCPort: 7000, UIPort: 7001,
		},
	}
	require.Equal(t, want, c)

	r, ok := c.Repo("epel")
	require.True(t, ok)
	require.False(t, r.RequiresSignature())
	r, _ = c.Repo("baseos")
	require.True(t, r.RequiresSignature())
	_, ok = c.Repo("nope")
	require.False(t, ok)

	// Round trip: what the config marshals to loads to the same config.
	out, err := yaml.Marshal(c)
	require.NoError(t, err)
	again, err := Parse(path, out)
	require.NoError(t, err, string(out))
	require.Equal(t, c, again)
}

func TestDefaults(t *testing.T) {
	clearTemporalEnv(t)
	c, err := Parse("osflow.yaml", []byte("store: /srv/osflow\nrepos: [{name: baseos, url: 'http://mirror/baseos'}]\n"))
	require.NoError(t, err)
	require.Equal(t, &Config{
		Path:  "osflow.yaml",
		Store: "/srv/osflow",
		Temporal: Temporal{
			Address: "127.0.0.1:7233", Namespace: "default", TaskQueue: "osflow", RepoTaskQueue: "osflow-repo",
			APIKeyEnv: "TEMPORAL_API_KEY",
		},
		HTTP:     HTTP{Listen: "127.0.0.1:8080", BaseURL: "http://127.0.0.1:8080/"},
		Log:      Log{Format: "json", Level: "info"},
		Schedule: Schedule{Cron: []string{"0 3 * * *"}, TimeZone: "UTC"},
		Sync:     Sync{Concurrency: 16, Timeout: Duration{2 * time.Hour}, HeartbeatTimeout: Duration{2 * time.Minute}, MaxAttempts: 5},
		Channels: Channels{Daily: "daily", Testing: "testing", Production: "production"},
		Repos:    []Repo{{Name: "baseos", URL: "http://mirror/baseos/"}},
		GC:       GC{KeepSnapshots: 14, MinAge: Duration{168 * time.Hour}},
		Dev: Dev{
			StateDir: ".osflow", UpstreamListen: "127.0.0.1:8091", TemporalCLI: "bin/temporal",
			GRPCPort: 7233, UIPort: 8233,
		},
	}, c)
	require.False(t, c.Repos[0].RequiresSignature())

	// A wildcard listen address gives a base URL a client can use.
	c, err = Parse("osflow.yaml", []byte("store: s\nhttp: {listen: ':8080'}\nrepos: [{name: site, overlay: true}]\n"))
	require.NoError(t, err)
	require.Equal(t, "http://localhost:8080/", c.HTTP.BaseURL)
}

func TestRelativePaths(t *testing.T) {
	clearTemporalEnv(t)
	text := []byte("store: s\ndev: {upstreamSpecs: specs}\nrepos: [{name: site, overlay: true}]\n")

	// An embedded config has no directory: paths stay relative to the current one.
	c, err := Parse("dev.yaml", text)
	require.NoError(t, err)
	require.Equal(t, "s", c.Store)
	require.Equal(t, "specs", c.Dev.UpstreamSpecs)
	require.Equal(t, "bin/temporal", c.Dev.TemporalCLI)

	c, err = Parse(filepath.Join("etc", "osflow", "osflow.yaml"), text)
	require.NoError(t, err)
	require.Equal(t, filepath.Join("etc", "osflow", "s"), c.Store)
	require.Equal(t, filepath.Join("etc", "osflow", ".osflow"), c.Dev.StateDir)
	require.Equal(t, filepath.Join("etc", "osflow", "bin", "temporal"), c.Dev.TemporalCLI)
}

func TestErrors(t *testing.T) {
	clearTemporalEnv(t)
	const repos = "repos:\n  - name: baseos\n    url: http://mirror/baseos/\n"
	tests := []struct {
		name string
		text string
		line int
		path string
		msg  string
	}{
		{"unknown top-level key", "store: s\nstor: s\n" + repos, 2, "stor", `unknown key (did you mean "store"?)`},
		{"unknown nested key", "store: s\ntemporal:\n  address: a:1\n  taskqueue: q\n" + repos, 4, "temporal.taskqueue", `unknown key (did you mean "taskQueue"?)`},
		{"unknown key in a list item", "store: s\nrepos:\n  - name: a\n    url: http://m/\n  - name: b\n    uri: http://m/\n", 6, "repos[1].uri", "unknown key"},
		{"literal secret", "store: s\ntemporal:\n  apiKey: hunter2\n" + repos, 3, "temporal.apiKey", `unknown key (secrets are references: use "apiKeyEnv"`},
		{"bad URL scheme", "store: s\nrepos:\n  - name: a\n    url: http://m/\n  - name: b\n    url: ftp://m/b\n", 6, "repos[1].url", `scheme "ftp"`},
		{"relative URL", "store: s\nrepos:\n  - name: a\n    url: mirror/a\n", 4, "repos[0].url", "not an absolute URL"},
		{"unparsable URL", "store: s\nrepos:\n  - name: a\n    url: 'http://m/%zz'\n", 4, "repos[0].url", "invalid URL"},
		{"bad base URL", "store: s\nhttp:\n  baseURL: file:///x\n" + repos, 3, "http.baseURL", `scheme "file"`},
		{"bad duration", "store: s\nsync:\n  timeout: 2 hours\n" + repos, 3, "sync.timeout", `invalid duration "2 hours"`},
		{"duration without unit", "store: s\ngc:\n  minAge: 90\n" + repos, 3, "gc.minAge", `invalid duration "90"`},
		{"wrong type", "store: s\nsync:\n  concurrency: many\n" + repos, 3, "sync.concurrency", `must be an integer, got "many"`},
		{"mapping for scalar", "store: {a: 1}\n" + repos, 1, "store", "must be a string, got a mapping"},
		{"out of range", "store: s\nsync:\n  concurrency: 1000\n" + repos, 3, "sync.concurrency", "1000 is not between 1 and 256"},
		{"bad cron field count", "store: s\nschedule:\n  cron:\n    - '0 3 * * *'\n    - '0 3 * *'\n" + repos, 5, "schedule.cron[1]", "has 4 fields, want 5"},
		{"bad cron value", "store: s\nschedule:\n  cron: ['0 25 * * *']\n" + repos, 3, "schedule.cron[0]", "hour field \"25\": 25 is out of range 0-23"},
		{"bad time zone", "store: s\nschedule:\n  timeZone: Mars/Olympus_Mons\n" + repos, 3, "schedule.timeZone", `unknown time zone "Mars/Olympus_Mons"`},
		{"missing store", "# no store\n" + repos, 2, "store", "required"},
		{"missing repos", "store: s\n", 1, "repos", "required: at least one repo"},
		{"empty repos", "store: s\nrepos: []\n", 2, "repos", "required: at least one repo"},
		{"missing repo name", "store: s\nrepos:\n  - url: http://m/\n", 3, "repos[0].name", "required"},
		{"bad repo name", "store: s\nrepos:\n  - name: BaseOS\n    url: http://m/\n", 3, "repos[0].name", "is not a repo name"},
		{"duplicate repo", "store: s\n" + repos + "  - name: baseos\n    url: http://other/\n", 5, "repos[1].name", `duplicate repo "baseos" (also repos[0], line 3)`},
		{"missing url", "store: s\nrepos:\n  - name: a\n", 3, "repos[0].url", "required for a mirror"},
		{"overlay with url", "store: s\nrepos:\n  - name: site\n    overlay: true\n    url: http://m/\n", 5, "repos[0].url", "an overlay has no url"},
		{"requireSignature without key", "store: s\nrepos:\n  - name: a\n    url: http://m/\n    requireSignature: true\n", 5, "repos[0].requireSignature", "true needs gpgKey"},
		{"gpgKey missing", "store: s\nrepos:\n  - name: a\n    url: http://m/\n    gpgKey: /nonexistent/RPM-GPG-KEY\n", 5, "repos[0].gpgKey", "cannot read /nonexistent/RPM-GPG-KEY: no such file or directory"},
		{"channels not distinct", "store: s\nchannels:\n  daily: daily\n  testing: prod\n  production: prod\n" + repos, 5, "channels.production", `"prod" is also channels.testing`},
		{"bad channel name", "store: s\nchannels:\n  testing: Test\n" + repos, 3, "channels.testing", "is not a channel name"},
		{"tls cert without key", "store: s\ntemporal:\n  tls:\n    certFile: RPM-GPG-KEY-test\n" + repos, 3, "temporal.tls", "certFile and keyFile go together"},
		{"bad log level", "store: s\nlog:\n  level: loud\n" + repos, 3, "log.level", `"loud" is not one of debug, info, warn, error`},
		{"bad listen", "store: s\nmetrics:\n  listen: 9464\n" + repos, 3, "metrics.listen", "is not host:port"},
		{"not a mapping", "- store\n", 1, "", "must be a mapping, got a list"},
		{"yaml syntax", "store: s\nrepos: [\n", 2, "", "did not find expected node content"},
		{"two documents", "store: s\n" + repos + "---\nstore: t\n", 5, "", "one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.text)
			_, err := Load(path)
			require.Error(t, err)
			prefix := fmt.Sprintf("%s:%d: %s: ", path, tt.line, tt.path)
			if tt.path == "" {
				prefix = fmt.Sprintf("%s:%d: ", path, tt.line)
			}
			require.Contains(t, err.Error(), prefix)
			require.Contains(t, err.Error(), tt.msg)
			var fe *FieldError
			require.True(t, errors.As(err, &fe))
		})
	}
}

func TestErrorsAreAllReported(t *testing.T) {
	clearTemporalEnv(t)
	text := `temporal:
  adress: x
sync:
  timeout: soon
schedule:
  timeZone: Nowhere/Else
repos:
  - name: a
    url: gopher://m/
  - name: a
    overlay: true
`
	_, err := Parse("osflow.yaml", []byte(text))
	require.Error(t, err)
	var joined interface{ Unwrap() []error }
	require.True(t, errors.As(err, &joined))
	want := []string{
		"osflow.yaml:1: store: required",
		"osflow.yaml:2: temporal.adress: unknown key",
		"osflow.yaml:4: sync.timeout: invalid duration",
		"osflow.yaml:6: schedule.timeZone: unknown time zone",
		"osflow.yaml:9: repos[0].url: scheme \"gopher\"",
		"osflow.yaml:10: repos[1].name: duplicate repo \"a\"",
	}
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, len(want), err.Error())
	for i, w := range want {
		require.True(t, strings.HasPrefix(lines[i], w), "line %d: %q does not start with %q", i, lines[i], w)
	}
	require.Len(t, joined.Unwrap(), len(want))
}

func TestEnvOverrides(t *testing.T) {
	clearTemporalEnv(t)
	dir := t.TempDir()
	for _, f := range []string{"cert.pem", "key.pem", "ca.pem"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600))
	}
	t.Chdir(dir)
	t.Setenv("TEMPORAL_ADDRESS", "temporal.prod:7233")
	t.Setenv("TEMPORAL_NAMESPACE", "osflow-prod")
	t.Setenv("TEMPORAL_TLS_CERT", "cert.pem")
	t.Setenv("TEMPORAL_TLS_KEY", "key.pem")
	t.Setenv("TEMPORAL_TLS_CA", "ca.pem")

	text := "store: s\ntemporal:\n  address: file-wins-not:1\n  namespace: ns\n  tls:\n    serverName: temporal.prod\nrepos: [{name: site, overlay: true}]\n"
	c, err := Parse(filepath.Join("conf", "osflow.yaml"), []byte(text))
	require.NoError(t, err)
	require.Equal(t, "temporal.prod:7233", c.Temporal.Address)
	require.Equal(t, "osflow-prod", c.Temporal.Namespace)
	// Paths from the environment are relative to the current directory, not to the config file.
	require.Equal(t, &TLS{CertFile: "cert.pem", KeyFile: "key.pem", CAFile: "ca.pem", ServerName: "temporal.prod"}, c.Temporal.TLS)
	require.Equal(t, filepath.Join("conf", "s"), c.Store)

	// A bad value from the environment points at the key and names the variable.
	t.Setenv("TEMPORAL_TLS_CA", "missing.pem")
	_, err = Parse("osflow.yaml", []byte(text))
	require.ErrorContains(t, err, "osflow.yaml:5: temporal.tls.caFile: cannot read missing.pem: no such file or directory (from $TEMPORAL_TLS_CA)")
}

func TestAPIKey(t *testing.T) {
	t.Setenv("OSFLOW_TEST_KEY", "from-env")
	k, err := Temporal{APIKeyEnv: "OSFLOW_TEST_KEY"}.APIKey()
	require.NoError(t, err)
	require.Equal(t, "from-env", k)

	f := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(f, []byte("from-file\n"), 0o600))
	k, err = Temporal{APIKeyEnv: "OSFLOW_TEST_KEY", APIKeyFile: f}.APIKey()
	require.NoError(t, err)
	require.Equal(t, "from-file", k)
}

func TestDuration(t *testing.T) {
	var v struct{ D Duration }
	require.NoError(t, yaml.Unmarshal([]byte("d: 2h30m"), &v))
	require.Equal(t, 150*time.Minute, v.D.Duration)
	out, err := yaml.Marshal(v)
	require.NoError(t, err)
	require.Equal(t, "d: 2h30m0s\n", string(out))

	err = yaml.Unmarshal([]byte("\nd: later"), &v)
	require.EqualError(t, err, `line 2: invalid duration "later" (want a number with a unit, such as 90s or 2h30m)`)
}

func TestCheckCron(t *testing.T) {
	for _, ok := range []string{"0 3 * * *", "*/15 * * * *", "0 0-6/2 1,15 * MON-FRI", "59 23 31 dec 7", "0 3 * jan-mar sun"} {
		require.NoError(t, checkCron(ok), ok)
	}
	for expr, msg := range map[string]string{
		"0 3 * * * *":  "6 fields",
		"60 3 * * *":   "minute field \"60\": 60 is out of range 0-59",
		"0 3 0 * *":    "0 is out of range 1-31",
		"0 3 * 13 *":   "13 is out of range 1-12",
		"0 3 * * 8":    "8 is out of range 0-7",
		"*/0 3 * * *":  "step \"0\" is not a positive number",
		"0 5-3 * * *":  "range 5-3 runs backwards",
		"0 3,,4 * * *": `"" is not a number`,
		"@daily":       "1 fields",
	} {
		require.ErrorContains(t, checkCron(expr), msg, expr)
	}
}
