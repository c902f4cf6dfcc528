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
  maxDownloads: 8
  minSpeed: 1MiB/s over 30s
channels:
  daily: nightly
  testing: test
  production: prod
repos:
  - name: baseos
    url: https://mirror.example.org/rocky/9/BaseOS/x86_64/os
    gpgKey: RPM-GPG-KEY-test
    description: Rocky BaseOS
    kind: auto
    allowRedirectHosts: [cdn.example.org, "10.0.0.5:8080", "[2001:db8::1]:443"]
    maxAge: 72h
  - name: epel
    url: file:///srv/epel
    gpgKey: RPM-GPG-KEY-test
    requireSignature: false
  - name: site
    overlay: true
gc:
  keepSnapshots: 30
  minAge: 336h
testing:
  suites:
    - name: closure
      builtin: repoclosure
    - name: install
      builtin: install
      sets:
        base: [hpc-base-tools, osflow-release]
        slurm: [slurm-client-stub]
      timeout: 30m
    - name: mpi
      command: [./run-mpi-tests, --quick]
      dir: tests
    - name: acceptance
      jenkins:
        url: https://ci.example.org/jenkins
        job: hpc/acceptance
        user: osflow
        tokenFile: RPM-GPG-KEY-test
        params: {RELEASE: latest, NODES: "4"}
  gate:
    cleanRounds: 3
    blockerLabel: critical
    minSoak: 48h
  closeOnPass: false
  roundInterval: 12h
tickets:
  github:
    repo: example-hpc/cluster
    baseURL: https://github.example.org/api/v3
    tokenEnv: OSFLOW_GITHUB_TOKEN
    label: osflow-test
  labels: [testing, rocky9]
outage:
  tasks:
    - name: drain
      command: [scontrol, update, nodename=ALL, state=drain]
      expected: 5m
      where: head node
    - name: firmware
      manual: true
      expected: 1h
    - name: reboot
      command: [pdsh, -a, reboot]
      expected: 10m
      timeout: 15m
git:
  config:
    - name: puppet
      url: git@git.example.org:hpc/puppet.git
      testBranch: staging
      productionBranch: main
  monitoring:
    - name: nagios
      url: ../nagios.git
wiki:
  url: https://github.com/example-hpc/cluster.wiki.git
  branch: main
  pageURL: https://github.com/example-hpc/cluster/wiki
dev:
  stateDir: state
  upstreamSpecs: specs
  upstreamListen: 127.0.0.1:9000
  temporalCLI: temporal
  uiPort: 7001
  gitDir: repos
production:
  approvers: [alice]
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
		Sync: Sync{Concurrency: 8, Timeout: Duration{90 * time.Minute}, HeartbeatTimeout: Duration{90 * time.Second}, MaxAttempts: 3,
			MaxDownloads: 8, MinSpeed: Speed{BytesPerSecond: 1 << 20, Window: 30 * time.Second}, LinkLimit: 32000},
		Channels: Channels{Daily: "nightly", Testing: "test", Production: "prod"},
		Repos: []Repo{
			{Name: "baseos", URL: "https://mirror.example.org/rocky/9/BaseOS/x86_64/os/", GPGKey: key, RequireSignature: &yes, Description: "Rocky BaseOS",
				AllowRedirectHosts: []string{"cdn.example.org", "10.0.0.5:8080", "[2001:db8::1]:443"}, MaxAge: Duration{72 * time.Hour}, Kind: RepoKindAuto},
			{Name: "epel", URL: "file:///srv/epel/", GPGKey: key, RequireSignature: &no},
			{Name: "site", Overlay: true},
		},
		GC: GC{KeepSnapshots: 30, MinAge: Duration{336 * time.Hour}},
		Testing: Testing{
			Suites: []Suite{
				{Name: "closure", Builtin: "repoclosure", Timeout: Duration{time.Hour}},
				{
					Name: "install", Builtin: "install", Timeout: Duration{30 * time.Minute},
					Sets: map[string][]string{"base": {"hpc-base-tools", "osflow-release"}, "slurm": {"slurm-client-stub"}},
				},
				{Name: "mpi", Command: []string{"./run-mpi-tests", "--quick"}, Dir: filepath.Join(dir, "tests"), Timeout: Duration{time.Hour}},
				{Name: "acceptance", Timeout: Duration{time.Hour}, Jenkins: &Jenkins{
					URL: "https://ci.example.org/jenkins/", Job: "hpc/acceptance", User: "osflow",
					TokenEnv: "JENKINS_TOKEN", TokenFile: key, Params: map[string]string{"RELEASE": "latest", "NODES": "4"},
				}},
			},
			Gate:          Gate{CleanRounds: 3, BlockerLabel: "critical", MinSoak: Duration{48 * time.Hour}},
			CloseOnPass:   &no,
			RoundInterval: Duration{12 * time.Hour},
		},
		Tickets: Tickets{
			GitHub: &GitHubTickets{
				Repo: "example-hpc/cluster", BaseURL: "https://github.example.org/api/v3/",
				TokenEnv: "OSFLOW_GITHUB_TOKEN", Label: "osflow-test",
			},
			Labels: []string{"testing", "rocky9"},
		},
		Outage: Outage{Tasks: []Task{
			{
				Name: "drain", Command: []string{"scontrol", "update", "nodename=ALL", "state=drain"},
				Expected: Duration{5 * time.Minute}, Where: "head node", Timeout: Duration{20 * time.Minute},
			},
			{Name: "firmware", Manual: true, Expected: Duration{time.Hour}},
			{Name: "reboot", Command: []string{"pdsh", "-a", "reboot"}, Expected: Duration{10 * time.Minute}, Timeout: Duration{15 * time.Minute}},
		}},
		Git: Git{
			Config:     []GitRepo{{Name: "puppet", URL: "git@git.example.org:hpc/puppet.git", TestBranch: "staging", ProductionBranch: "main"}},
			Monitoring: []GitRepo{{Name: "nagios", URL: filepath.Join(filepath.Dir(dir), "nagios.git"), TestBranch: "test", ProductionBranch: "production"}},
		},
		Wiki: Wiki{
			URL: "https://github.com/example-hpc/cluster.wiki.git", Branch: "main",
			PageURL: "https://github.com/example-hpc/cluster/wiki/",
		},
		Dev: Dev{
			StateDir: filepath.Join(dir, "state"), UpstreamSpecs: filepath.Join(dir, "specs"),
			UpstreamListen: "127.0.0.1:9000", TemporalCLI: "temporal", UIPort: 7001,
			GitDir: filepath.Join(dir, "repos"),
		},
		Production: Production{Approvers: []string{"alice"}, RemindEvery: Duration{24 * time.Hour}},
	}
	require.Equal(t, want, c)

	r, ok := c.Repo("epel")
	require.True(t, ok)
	require.False(t, r.RequiresSignature())
	r, _ = c.Repo("baseos")
	require.True(t, r.RequiresSignature())
	_, ok = c.Repo("nope")
	require.False(t, ok)
	require.False(t, c.Testing.ClosesOnPass())

	// Round trip: what the config marshals to loads to the same config.
	out, err := yaml.Marshal(c)
	require.NoError(t, err)
	again, err := Parse(path, out)
	require.NoError(t, err, string(out))
	require.Equal(t, c, again)
}

func TestDefaults(t *testing.T) {
	clearTemporalEnv(t)
	wd, err := os.Getwd()
	require.NoError(t, err)
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
		Sync: Sync{Concurrency: 16, Timeout: Duration{2 * time.Hour}, HeartbeatTimeout: Duration{2 * time.Minute}, MaxAttempts: 25,
			MaxDownloads: 32, MinSpeed: Speed{BytesPerSecond: 10 << 10, Window: time.Minute}, LinkLimit: 32000},
		Channels: Channels{Daily: "daily", Testing: "testing", Production: "production"},
		Repos:    []Repo{{Name: "baseos", URL: "http://mirror/baseos/"}},
		GC:       GC{KeepSnapshots: 14, MinAge: Duration{168 * time.Hour}},
		Testing: Testing{
			Gate:          Gate{CleanRounds: 2, BlockerLabel: "blocker"},
			CloseOnPass:   new(true),
			RoundInterval: Duration{24 * time.Hour},
		},
		Tickets:    Tickets{Dir: "/srv/tickets"},
		Wiki:       Wiki{Branch: "master"},
		Production: Production{RemindEvery: Duration{24 * time.Hour}},
		Dev: Dev{
			StateDir: filepath.Join(wd, ".osflow"), UpstreamListen: "127.0.0.1:8091", TemporalCLI: filepath.Join(wd, "bin/temporal"),
			UIPort: 8233, GitDir: filepath.Join(wd, ".osflow", "git"),
		},
	}, c)
	require.False(t, c.Repos[0].RequiresSignature())
	require.True(t, c.Testing.ClosesOnPass())

	// A wildcard listen address gives a base URL a client can use.
	c, err = Parse("osflow.yaml", []byte("store: s\nhttp: {listen: ':8080'}\nrepos: [{name: site, overlay: true}]\n"))
	require.NoError(t, err)
	require.Equal(t, "http://localhost:8080/", c.HTTP.BaseURL)
}

// TestCycleDefaults checks the defaults inside the integration-test cycle's
// list items, and the defaults that depend on other keys.
func TestCycleDefaults(t *testing.T) {
	clearTemporalEnv(t)
	tests := []struct {
		name string
		text string
		got  func(*Config) any
		want any
	}{
		{"suite timeout", "testing:\n  suites: [{name: c, builtin: repoclosure}]\n",
			func(c *Config) any { return c.Testing.Suites[0].Timeout }, Duration{time.Hour}},
		{"jenkins token", "testing:\n  suites: [{name: j, jenkins: {url: 'http://ci/', job: a/b, user: u}}]\n",
			func(c *Config) any { return c.Testing.Suites[0].Jenkins.TokenEnv }, "JENKINS_TOKEN"},
		{"cleanRounds 0", "testing:\n  gate: {cleanRounds: 0}\n",
			func(c *Config) any { return c.Testing.Gate.CleanRounds }, 2},
		{"empty gate refused by default", "",
			func(c *Config) any { return c.Testing.AllowEmptyGate }, false},
		{"allowEmptyGate", "testing:\n  allowEmptyGate: true\n",
			func(c *Config) any { return c.Testing.AllowEmptyGate }, true},
		{"closeOnPass", "testing:\n  closeOnPass: true\n",
			func(c *Config) any { return c.Testing.ClosesOnPass() }, true},
		{"tickets dir next to a store with a trailing slash", "tickets: {labels: [x]}\n",
			func(c *Config) any { return c.Tickets.Dir }, "/srv/tickets"},
		{"github", "tickets:\n  github: {repo: org/site}\n",
			func(c *Config) any { return *c.Tickets.GitHub }, GitHubTickets{Repo: "org/site", TokenEnv: "GITHUB_TOKEN", Label: "osflow"}},
		{"no tickets dir with github", "tickets:\n  github: {repo: org/site}\n",
			func(c *Config) any { return c.Tickets.Dir }, ""},
		{"command task timeout", "outage:\n  tasks: [{name: t, command: [x], expected: 90s}]\n",
			func(c *Config) any { return c.Outage.Tasks[0].Timeout }, Duration{6 * time.Minute}},
		{"manual task has no timeout", "outage:\n  tasks: [{name: t, manual: true, expected: 90s}]\n",
			func(c *Config) any { return c.Outage.Tasks[0].Timeout }, Duration{}},
		{"git branches", "git:\n  monitoring: [{name: n, url: 'ssh://git@h/n.git'}]\n",
			func(c *Config) any { return c.Git.Monitoring[0] }, GitRepo{Name: "n", URL: "ssh://git@h/n.git", TestBranch: "test", ProductionBranch: "production"}},
		{"wiki branch", "wiki: {url: 'git@h:w.git'}\n",
			func(c *Config) any { return c.Wiki.Branch }, "master"},
		{"gitDir under stateDir", "dev: {stateDir: /var/lib/osflow}\n",
			func(c *Config) any { return c.Dev.GitDir }, "/var/lib/osflow/git"},
		{"empty lists and mappings are none", "testing:\n  suites: []\ntickets: {labels: []}\noutage: {tasks: []}\n",
			func(c *Config) any { return []any{c.Testing.Suites, c.Tickets.Labels, c.Outage.Tasks} }, []any{[]Suite(nil), []string(nil), []Task(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("osflow.yaml", []byte("store: /srv/osflow/\nrepos: [{name: site, overlay: true}]\n"+tt.text))
			require.NoError(t, err)
			require.Equal(t, tt.want, tt.got(c))
		})
	}
}

func TestRelativePaths(t *testing.T) {
	clearTemporalEnv(t)
	wd, err := os.Getwd()
	require.NoError(t, err)
	text := []byte("store: s\ndev: {upstreamSpecs: specs}\nrepos: [{name: site, overlay: true}]\n")

	// An embedded config has no directory: paths are made absolute against
	// the current one, so git and child processes running elsewhere agree.
	c, err := Parse("dev.yaml", text)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(wd, "s"), c.Store)
	require.Equal(t, filepath.Join(wd, "specs"), c.Dev.UpstreamSpecs)
	require.Equal(t, filepath.Join(wd, "bin/temporal"), c.Dev.TemporalCLI)

	c, err = Parse(filepath.Join("etc", "osflow", "osflow.yaml"), text)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(wd, "etc", "osflow", "s"), c.Store)
	require.Equal(t, filepath.Join(wd, "etc", "osflow", ".osflow"), c.Dev.StateDir)
	require.Equal(t, filepath.Join(wd, "etc", "osflow", "bin", "temporal"), c.Dev.TemporalCLI)
	require.Equal(t, filepath.Join(wd, "etc", "osflow", "tickets"), c.Tickets.Dir)
	require.Equal(t, filepath.Join(wd, "etc", "osflow", ".osflow", "git"), c.Dev.GitDir)

	// Local git URLs are paths; URLs and scp-like host:path are not.
	text = []byte(`store: s
repos: [{name: site, overlay: true}]
testing:
  suites: [{name: t, command: [./t], dir: tests}]
git:
  config:
    - {name: a, url: repos/a.git}
    - {name: b, url: ./b:c.git}
    - {name: c, url: /srv/git/c.git}
    - {name: d, url: 'git@host:d.git'}
    - {name: e, url: 'file:///srv/git/e.git'}
wiki: {url: ../wiki.git}
`)
	c, err = Parse(filepath.Join("etc", "osflow", "osflow.yaml"), text)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(wd, "etc", "osflow", "tests"), c.Testing.Suites[0].Dir)
	var urls []string
	for _, r := range c.Git.Config {
		urls = append(urls, r.URL)
	}
	require.Equal(t, []string{filepath.Join(wd, "etc", "osflow", "repos", "a.git"), filepath.Join(wd, "etc", "osflow", "b:c.git"), "/srv/git/c.git", "git@host:d.git", "file:///srv/git/e.git"}, urls)
	require.Equal(t, filepath.Join(wd, "etc", "wiki.git"), c.Wiki.URL)
}

func TestErrors(t *testing.T) {
	clearTemporalEnv(t)
	const repos = "repos:\n  - name: baseos\n    url: http://mirror/baseos/\n"
	const base = "store: s\n" + repos
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
		// Issue 16 #11: promotions waited for "one of :".
		{"production without approvers", base + "production:\n  remindEvery: 1h\n", 5, "production.approvers", "required: who may approve an outage"},
		{"empty approvers", base + "production:\n  approvers: []\n", 6, "production.approvers", "required: who may approve an outage"},
		{"bypass approval without approvers", "store: s\nrepos:\n  - name: site\n    overlay: true\n    bypass:\n      allow: [x]\n      requireApproval: true\n", 7, "repos[0].bypass.requireApproval", "needs production.approvers"},
		{"missing repos", "store: s\n", 1, "repos", "required: at least one repo"},
		{"empty repos", "store: s\nrepos: []\n", 2, "repos", "required: at least one repo"},
		{"missing repo name", "store: s\nrepos:\n  - url: http://m/\n", 3, "repos[0].name", "required"},
		{"bad repo name", "store: s\nrepos:\n  - name: BaseOS\n    url: http://m/\n", 3, "repos[0].name", "is not a repo name"},
		{"duplicate repo", "store: s\n" + repos + "  - name: baseos\n    url: http://other/\n", 5, "repos[1].name", `duplicate repo "baseos" (also repos[0], line 3)`},
		{"missing url", "store: s\nrepos:\n  - name: a\n", 3, "repos[0].url", "required for a mirror"},
		{"overlay with url", "store: s\nrepos:\n  - name: site\n    overlay: true\n    url: http://m/\n", 5, "repos[0].url", "an overlay has no url"},
		{"requireSignature without key", "store: s\nrepos:\n  - name: a\n    url: http://m/\n    requireSignature: true\n", 5, "repos[0].requireSignature", "true needs gpgKey"},
		{"description on two lines", "store: s\nrepos:\n  - name: a\n    url: http://m/\n    description: \"BaseOS\\nenabled=0\"\n", 5, "repos[0].description", "must be one line"},
		{"gpgKey missing", "store: s\nrepos:\n  - name: a\n    url: http://m/\n    gpgKey: /nonexistent/RPM-GPG-KEY\n", 5, "repos[0].gpgKey", "cannot read /nonexistent/RPM-GPG-KEY: no such file or directory"},
		{"channels not distinct", "store: s\nchannels:\n  daily: daily\n  testing: prod\n  production: prod\n" + repos, 5, "channels.production", `"prod" is also channels.testing`},
		{"bad channel name", "store: s\nchannels:\n  testing: Test\n" + repos, 3, "channels.testing", "is not a channel name"},
		{"tls cert without key", "store: s\ntemporal:\n  tls:\n    certFile: RPM-GPG-KEY-test\n" + repos, 3, "temporal.tls", "certFile and keyFile go together"},
		{"bad log level", "store: s\nlog:\n  level: loud\n" + repos, 3, "log.level", `"loud" is not one of debug, info, warn, error`},
		{"bad listen", "store: s\nmetrics:\n  listen: 9464\n" + repos, 3, "metrics.listen", "is not host:port"},
		{"not a mapping", "- store\n", 1, "", "must be a mapping, got a list"},
		{"key given twice", "store: s\nstore: t\n" + repos, 2, "store", "given twice (also line 1)"},

		// The integration-test cycle; its sections start on line 5.
		{"suite of no kind", base + "testing:\n  suites:\n    - name: a\n", 7, "testing.suites[0]", "set one of builtin, command or jenkins"},
		{"suite of two kinds", base + "testing:\n  suites:\n    - name: a\n      builtin: repoclosure\n      command: [x]\n", 7, "testing.suites[0]", "builtin and command are alternatives: set only one"},
		{"suite of three kinds", base + "testing:\n  suites:\n    - name: a\n      builtin: repoclosure\n      command: [x]\n      jenkins: {url: 'http://ci/', job: j, user: u}\n", 7, "testing.suites[0]", "builtin, command and jenkins are alternatives"},
		{"unknown builtin", base + "testing:\n  suites:\n    - name: a\n      builtin: smoke\n", 8, "testing.suites[0].builtin", `"smoke" is not one of repoclosure, install`},
		{"install without sets", base + "testing:\n  suites:\n    - name: a\n      builtin: install\n", 7, "testing.suites[0].sets", "required for builtin install"},
		{"empty set", base + "testing:\n  suites:\n    - name: a\n      builtin: install\n      sets:\n        base: []\n", 10, "testing.suites[0].sets.base", "a set lists at least one package"},
		{"set not a list", base + "testing:\n  suites:\n    - name: a\n      builtin: install\n      sets:\n        base: hpc-base-tools\n", 10, "testing.suites[0].sets.base", `must be a list, got "hpc-base-tools"`},
		{"sets on repoclosure", base + "testing:\n  suites:\n    - name: a\n      builtin: repoclosure\n      sets: {base: [x]}\n", 9, "testing.suites[0].sets", "only builtin install has sets"},
		{"empty program", base + "testing:\n  suites:\n    - name: a\n      command: ['', x]\n", 8, "testing.suites[0].command[0]", "the program to run is empty"},
		{"dir without command", base + "testing:\n  suites:\n    - name: a\n      builtin: repoclosure\n      dir: /tmp\n", 9, "testing.suites[0].dir", "only a command suite"},
		{"bad jenkins url", base + "testing:\n  suites:\n    - name: a\n      jenkins:\n        url: ftp://ci/\n        job: j\n        user: u\n", 9, "testing.suites[0].jenkins.url", `scheme "ftp"`},
		{"jenkins url missing", base + "testing:\n  suites:\n    - name: a\n      jenkins:\n        job: j\n        user: u\n", 8, "testing.suites[0].jenkins.url", "required"},
		{"bad jenkins job", base + "testing:\n  suites:\n    - name: a\n      jenkins:\n        url: https://ci/\n        job: hpc//x\n        user: u\n", 10, "testing.suites[0].jenkins.job", `"hpc//x" is not a job's full name`},
		{"literal jenkins token", base + "testing:\n  suites:\n    - name: a\n      jenkins:\n        url: https://ci/\n        job: j\n        user: u\n        token: t0ps3cret\n", 12, "testing.suites[0].jenkins.token", `secrets are references: use "tokenEnv"`},
		{"duplicate suite", base + "testing:\n  suites:\n    - name: a\n      builtin: repoclosure\n    - name: a\n      builtin: repoclosure\n", 9, "testing.suites[1].name", `duplicate suite "a" (also testing.suites[0], line 7)`},
		{"bad suite name", base + "testing:\n  suites:\n    - name: Smoke\n      builtin: repoclosure\n", 7, "testing.suites[0].name", `"Smoke" is not a suite name`},
		{"negative cleanRounds", base + "testing:\n  gate:\n    cleanRounds: -1\n", 7, "testing.gate.cleanRounds", "-1 is not between 1 and 1000"},
		{"short roundInterval", base + "testing:\n  roundInterval: 10s\n", 6, "testing.roundInterval", "10s is too short"},
		{"zero roundInterval", base + "testing:\n  roundInterval: 0s\n", 6, "testing.roundInterval", "0s is too short"},
		{"github repo not owner/name", base + "tickets:\n  github:\n    repo: example-hpc\n", 7, "tickets.github.repo", `"example-hpc" is not owner/name`},
		{"bad github baseURL", base + "tickets:\n  github:\n    repo: o/n\n    baseURL: github.example.org/api/v3\n", 8, "tickets.github.baseURL", "not an absolute URL"},
		{"bad tokenEnv", base + "tickets:\n  github:\n    repo: o/n\n    tokenEnv: $GITHUB_TOKEN\n", 8, "tickets.github.tokenEnv", "is not an environment variable name"},
		{"tickets dir and github", base + "tickets:\n  dir: /srv/tickets\n  github: {repo: o/n}\n", 6, "tickets.dir", "not used with tickets.github"},
		{"task of no kind", base + "outage:\n  tasks:\n    - name: t\n      expected: 1m\n", 7, "outage.tasks[0]", "set one of command or manual"},
		{"task with command and manual", base + "outage:\n  tasks:\n    - name: t\n      command: [x]\n      manual: true\n      expected: 1m\n", 7, "outage.tasks[0]", "command and manual are alternatives"},
		{"task without expected", base + "outage:\n  tasks:\n    - name: t\n      manual: true\n", 7, "outage.tasks[0].expected", "required: the planned duration"},
		{"manual task with timeout", base + "outage:\n  tasks:\n    - name: t\n      manual: true\n      expected: 1m\n      timeout: 5m\n", 10, "outage.tasks[0].timeout", "only a command task has a timeout"},
		{"duplicate task", base + "outage:\n  tasks:\n    - name: t\n      manual: true\n      expected: 1m\n    - name: t\n      manual: true\n      expected: 1m\n", 10, "outage.tasks[1].name", `duplicate task "t" (also outage.tasks[0], line 7)`},
		{"duplicate git repo", base + "git:\n  config:\n    - name: puppet\n      url: git@h:p.git\n  monitoring:\n    - name: puppet\n      url: /srv/git/n.git\n", 10, "git.monitoring[0].name", `duplicate git repo "puppet" (also git.config[0], line 7)`},
		{"git url missing", base + "git:\n  config:\n    - name: puppet\n", 7, "git.config[0].url", "required"},
		{"git over http", base + "git:\n  config:\n    - name: p\n      url: http://h/p.git\n", 8, "git.config[0].url", `scheme "http"`},
		{"git password", base + "git:\n  config:\n    - name: p\n      url: 'https://me:pw@h/p.git'\n", 8, "git.config[0].url", "only an ssh URL names a user"},
		{"scp-like without path", base + "git:\n  config:\n    - name: p\n      url: 'git@h:'\n", 8, "git.config[0].url", "scp-like git URL is [user@]host:path"},
		{"same branches", base + "git:\n  config:\n    - name: p\n      url: git@h:p.git\n      testBranch: main\n      productionBranch: main\n", 10, "git.config[0].productionBranch", `"main" is also testBranch`},
		{"bad branch", base + "git:\n  config:\n    - name: p\n      url: git@h:p.git\n      testBranch: 'feature..x'\n", 9, "git.config[0].testBranch", `"feature..x" is not a branch name`},
		{"wiki pageURL without url", base + "wiki:\n  pageURL: https://github.com/o/n/wiki/\n", 6, "wiki.pageURL", "needs wiki.url"},
		{"zero maxAttempts", "store: s\nsync:\n  maxAttempts: 0\n" + repos, 3, "sync.maxAttempts", "0 is not between 1 and 1000"},
		{"zero maxDownloads", "store: s\nsync:\n  maxDownloads: -1\n" + repos, 3, "sync.maxDownloads", "-1 is not between 1 and 1024"},
		{"linkLimit past ext4's", "store: s\nsync:\n  linkLimit: 65000\n" + repos, 3, "sync.linkLimit", "65000 is not between 2 and 60000"},
		{"bad minSpeed", "store: s\nsync:\n  minSpeed: 10kb/s\n" + repos, 3, "sync.minSpeed", `invalid speed "10kb/s"`},
		{"minSpeed without window", "store: s\nsync:\n  minSpeed: 10KiB/s over 0s\n" + repos, 3, "sync.minSpeed", "the window is not a positive duration"},
		{"redirect host with scheme", "store: s\nrepos:\n  - name: a\n    url: http://m/\n    allowRedirectHosts: ['https://cdn/']\n", 5, "repos[0].allowRedirectHosts[0]", "is not a host or host:port"},
		{"redirect host with bad port", "store: s\nrepos:\n  - name: a\n    url: http://m/\n    allowRedirectHosts: ['cdn:http']\n", 5, "repos[0].allowRedirectHosts[0]", `port "http"`},
		{"redirect hosts of an overlay", "store: s\nrepos:\n  - name: site\n    overlay: true\n    allowRedirectHosts: [cdn]\n", 5, "repos[0].allowRedirectHosts", "an overlay is read from disk"},
		{"negative maxAge", "store: s\nrepos:\n  - name: a\n    url: http://m/\n    maxAge: -1h\n", 5, "repos[0].maxAge", "-1h0m0s must not be negative"},
		{"unknown repo kind", "store: s\nrepos:\n  - name: a\n    url: http://m/\n    kind: iso\n", 5, "repos[0].kind", `"iso" is not a repo kind: rpm-md (the default), tree or auto`},
		{"overlay as a tree", "store: s\nrepos:\n  - name: site\n    overlay: true\n    kind: tree\n", 5, "repos[0].kind", "an overlay is a repository osflow indexes itself"},
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

// TestErrorsHideUserInfo covers a URL with credentials in the config: the
// error that refuses it does not print them.
func TestErrorsHideUserInfo(t *testing.T) {
	clearTemporalEnv(t)
	path := writeConfig(t, "store: s\nrepos:\n  - name: a\n    url: 'https://mirror:hunter2@m.example/a/'\n"+
		"  - name: b\n    url: 'ftp://tok3n@m.example/b/'\ngit:\n  config:\n    - name: p\n      url: 'https://me:s3cret@h/p.git'\n"+
		"wiki:\n  url: 'https://me:wik1pw@h/w.git'\n")
	_, err := Load(path)
	require.Error(t, err)
	for _, secret := range []string{"hunter2", "mirror:", "tok3n", "s3cret", "wik1pw"} {
		require.NotContains(t, err.Error(), secret)
	}
	require.Contains(t, err.Error(), `repos[0].url: "https://***@m.example/a/": no user info in this URL`)
	require.Contains(t, err.Error(), `repos[1].url: scheme "ftp" of "ftp://***@m.example/b/"`)
	require.Contains(t, err.Error(), `git.config[0].url: "https://***@h/p.git"`)
}

func TestSpeed(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Speed
	}{
		{"10KiB/s over 1m", Speed{10 << 10, time.Minute}},
		{"500B/s over 30s", Speed{500, 30 * time.Second}},
		{" 2MiB/s  over 1m30s ", Speed{2 << 20, 90 * time.Second}},
		{"0B/s over 2m", Speed{0, 2 * time.Minute}},
	} {
		var got Speed
		require.NoError(t, yaml.Unmarshal([]byte(tt.in), &got), tt.in)
		require.Equal(t, tt.want, got)
		var again Speed
		require.NoError(t, yaml.Unmarshal([]byte(got.String()), &again))
		require.Equal(t, got, again)
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
	require.Equal(t, filepath.Join(dir, "conf", "s"), c.Store)

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

func TestTokens(t *testing.T) {
	t.Setenv("OSFLOW_TEST_TOKEN", "from-env")
	f := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(f, []byte("from-file\n"), 0o600))
	for _, tt := range []struct {
		name  string
		token func() (string, error)
		want  string
	}{
		{"jenkins env", Jenkins{TokenEnv: "OSFLOW_TEST_TOKEN"}.Token, "from-env"},
		{"jenkins file", Jenkins{TokenEnv: "OSFLOW_TEST_TOKEN", TokenFile: f}.Token, "from-file"},
		{"github env", GitHubTickets{TokenEnv: "OSFLOW_TEST_TOKEN"}.Token, "from-env"},
		{"github file", GitHubTickets{TokenEnv: "OSFLOW_TEST_TOKEN", TokenFile: f}.Token, "from-file"},
		{"none", GitHubTickets{}.Token, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.token()
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	_, err := GitHubTickets{TokenFile: "/nonexistent/token"}.Token()
	require.ErrorContains(t, err, "github token: stat /nonexistent/token: no such file or directory")
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

func TestApproverKeys(t *testing.T) {
	clearTemporalEnv(t)
	const base = "store: s\nrepos:\n  - name: baseos\n    url: http://mirror/baseos/\nproduction:\n"
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM8hv5qnhacpLcWH0PeqKZisoa0YIYMrQwBqiLmJRLZI"
	for _, tc := range []struct {
		name      string
		text      string
		approvers []string
		keys      map[string]string
		err       string
	}{
		{"names only", "  approvers: [alice, Bob Smith]\n", []string{"alice", "Bob Smith"}, nil, ""},
		{"allowed_signers line", "  approvers:\n    - alice " + key + " alice@example\n    - bob\n", []string{"alice", "bob"}, map[string]string{"alice": key}, ""},
		{"required and given", "  requireSignedApprovals: true\n  approvers:\n    - alice namespaces=\"osflow-approval\" " + key + "\n", []string{"alice"}, map[string]string{"alice": key}, ""},
		{"required, one without key", "  requireSignedApprovals: true\n  approvers:\n    - alice " + key + "\n    - bob\n", nil, nil,
			`production.approvers[1]: "bob" has no key, and production.requireSignedApprovals is true`},
		{"bad key", "  approvers:\n    - alice ssh-ed25519 AAAAbroken\n", nil, nil, `production.approvers[0]: the key of "alice"`},
		{"duplicate", "  approvers:\n    - alice " + key + "\n    - alice\n", nil, nil, `production.approvers[1]: "alice" is also production.approvers[0]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(writeConfig(t, base+tc.text))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.approvers, c.Production.Approvers)
			require.Equal(t, tc.keys, c.Production.ApproverKeys)
		})
	}
}

// TestConfigErrorsNeverEchoAURLPassword: a password holding a "/", a space
// or an "@" (unescaped, so the URL does not parse as meant) is hidden in
// every message about the URL, as a plain one is.
func TestConfigErrorsNeverEchoAURLPassword(t *testing.T) {
	for _, pw := range []string{"s3cret", "s3c/ret", "s3c ret", "s3c@ret", "s3c/r@et x", "s3c:ret"} {
		for _, url := range []string{"https://me:" + pw + "@mirror.example/el9/", "https://me:" + pw + "@/el9/", "ftp://me:" + pw + "@m/"} {
			path := writeConfig(t, "store: s\nrepos:\n  - name: a\n    url: '"+url+"'\n")
			_, err := Load(path)
			require.Error(t, err, url)
			require.NotContains(t, err.Error(), "s3c", "%q: %v", url, err)
			require.Contains(t, err.Error(), "repos[0].url", url)
		}
	}
}

func TestRepoRequired(t *testing.T) {
	c, err := Load(writeConfig(t, "store: s\nrepos:\n  - name: a\n    url: http://m/a/\n    required: true\n  - name: b\n    url: http://m/b/\n"))
	require.NoError(t, err)
	require.True(t, c.Repos[0].Required)
	require.False(t, c.Repos[1].Required, "a repo is not required by default")
}
