package examples

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/internal/testtool"
)

func TestDevConfig(t *testing.T) {
	t.Setenv("TEMPORAL_ADDRESS", "")
	t.Setenv("TEMPORAL_NAMESPACE", "")
	c, err := config.Parse("dev.yaml", DevConfig)
	require.NoError(t, err)
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(wd, ".osflow/store"), c.Store, "relative paths become absolute against the working directory")
	require.Equal(t, "console", c.Log.Format)
	require.Equal(t, "127.0.0.1:9464", c.Metrics.Listen)
	require.Equal(t, "http://127.0.0.1:8080/", c.HTTP.BaseURL)
	require.Equal(t, []string{"0 3 * * *"}, c.Schedule.Cron)
	require.Equal(t, "UTC", c.Schedule.TimeZone)
	require.Equal(t, filepath.Join(wd, "deploy/examples/upstream"), c.Dev.UpstreamSpecs)
	require.Equal(t, "127.0.0.1:8091", c.Dev.UpstreamListen)
	var names []string
	for _, r := range c.Repos {
		names = append(names, r.Name)
	}
	require.Equal(t, []string{"baseos", "appstream", "site"}, names)
	require.True(t, c.Repos[2].Overlay)

	// The repos osflow dev mirrors are the ones it builds.
	for _, r := range c.Repos[:2] {
		require.Equal(t, "http://"+c.Dev.UpstreamListen+"/"+r.Name+"/", r.URL)
		specs, err := Upstream.ReadDir("upstream/" + r.Name)
		require.NoError(t, err)
		require.NotEmpty(t, specs)
	}

	// The integration-test cycle.
	require.Len(t, c.Testing.Suites, 2)
	require.Equal(t, "repoclosure", c.Testing.Suites[0].Builtin)
	install := c.Testing.Suites[1]
	require.Equal(t, "install", install.Builtin)
	require.Equal(t, map[string][]string{"base": {"hpc-base-tools"}, "slurm": {"slurm-client-stub"}}, install.Sets)
	built := upstreamPackages(t)
	for set, pkgs := range install.Sets {
		for _, p := range pkgs {
			require.Contains(t, built, p, "set %s installs a package the upstream does not build", set)
		}
	}
	require.Equal(t, 1, c.Testing.Gate.CleanRounds, "a candidate a minute after make run")
	require.Zero(t, c.Testing.Gate.MinSoak.Duration)
	require.Equal(t, time.Hour, c.Testing.RoundInterval.Duration)
	require.True(t, c.Testing.ClosesOnPass())
	require.Nil(t, c.Tickets.GitHub)
	require.Equal(t, filepath.Join(wd, ".osflow/tickets"), c.Tickets.Dir)
	var tasks []string
	for _, task := range c.Outage.Tasks {
		tasks = append(tasks, task.Name)
	}
	require.Equal(t, []string{"drain-nodes", "reboot-nodes"}, tasks, "no manual step: the dev rehearsal runs by itself")
	require.Equal(t, 4*time.Minute, c.Outage.Tasks[0].Timeout.Duration)

	// osflow dev creates the git and wiki repos in its git directory.
	require.Equal(t, filepath.Join(wd, ".osflow/git"), c.Dev.GitDir)
	urls := []string{c.Wiki.URL}
	for _, r := range append(c.Git.Config, c.Git.Monitoring...) {
		urls = append(urls, r.URL)
	}
	for _, u := range urls {
		require.Equal(t, c.Dev.GitDir, filepath.Dir(u), u)
	}
}

// upstreamPackages returns the names of the packages the embedded upstream
// builds.
func upstreamPackages(t *testing.T) []string {
	specs, err := fs.Glob(Upstream, "upstream/*/*.spec")
	require.NoError(t, err)
	nameRE := regexp.MustCompile(`(?m)^Name:\s*(\S+)`)
	var names []string
	for _, f := range specs {
		b, err := Upstream.ReadFile(f)
		require.NoError(t, err)
		m := nameRE.FindSubmatch(b)
		require.NotNil(t, m, f)
		names = append(names, string(m[1]))
	}
	return names
}

// TestSiteExample loads osflow.yaml with the key and certificate files it
// names replaced by files that exist.
func TestSiteExample(t *testing.T) {
	for _, k := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA", "TEMPORAL_TLS_SERVER_NAME"} {
		t.Setenv(k, "")
	}
	text, err := os.ReadFile("osflow.yaml")
	require.NoError(t, err)

	// As it stands, only the missing files are wrong (fewer on a host that has them).
	_, err = config.Parse("osflow.yaml", text)
	if err != nil {
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			var fe *config.FieldError
			require.True(t, errors.As(e, &fe))
			require.Regexp(t, `^cannot read /etc/(pki/rpm-gpg|osflow/tls)/`, fe.Msg, e.Error())
		}
	}

	dir := t.TempDir()
	files := regexp.MustCompile(`/etc/(pki/rpm-gpg|osflow/tls)/[^\s]+`)
	for _, f := range files.FindAllString(string(text), -1) {
		p := filepath.Join(dir, f)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("placeholder"), 0o600))
	}
	text = files.ReplaceAllFunc(text, func(f []byte) []byte { return []byte(filepath.Join(dir, string(f))) })
	path := filepath.Join(dir, "osflow.yaml")
	require.NoError(t, os.WriteFile(path, text, 0o644))

	c, err := config.Load(path)
	require.NoError(t, err)
	require.Equal(t, "/srv/osflow", c.Store)
	require.Equal(t, "Europe/Berlin", c.Schedule.TimeZone)
	require.Equal(t, 20*time.Minute, c.Schedule.Jitter.Duration)
	require.Equal(t, "json", c.Log.Format)
	require.NotNil(t, c.Temporal.TLS)
	require.Equal(t, "OSFLOW_TEMPORAL_API_KEY", c.Temporal.APIKeyEnv)
	require.Len(t, c.Repos, 5)
	epel, ok := c.Repo("epel")
	require.True(t, ok)
	require.False(t, epel.RequiresSignature())
	baseos, _ := c.Repo("baseos")
	require.True(t, baseos.RequiresSignature())
	site, _ := c.Repo("site")
	require.True(t, site.Overlay)
	require.Len(t, site.Sources, 3)
	require.Equal(t, "Europe/Berlin", site.WatchTimeZone)
	require.Equal(t, filepath.Join(dir, ".osflow"), c.Dev.StateDir)

	var kinds []string
	for _, s := range c.Testing.Suites {
		switch {
		case s.Builtin != "":
			kinds = append(kinds, s.Builtin)
		case s.Jenkins != nil:
			kinds = append(kinds, "jenkins")
		default:
			kinds = append(kinds, "command")
		}
	}
	require.Equal(t, []string{"repoclosure", "install", "command", "jenkins"}, kinds)
	require.Equal(t, "OSFLOW_JENKINS_TOKEN", c.Testing.Suites[3].Jenkins.TokenEnv)
	require.NotNil(t, c.Tickets.GitHub)
	require.Equal(t, "OSFLOW_GITHUB_TOKEN", c.Tickets.GitHub.TokenEnv)
	require.Empty(t, c.Tickets.Dir)
	require.Len(t, c.Outage.Tasks, 3)
	require.Equal(t, "git@git.example.org:hpc/puppet-control.git", c.Git.Config[0].URL)
	require.Equal(t, "https://github.com/example-hpc/cluster/wiki/", c.Wiki.PageURL)
}

// TestSiteExampleIsComplete checks that osflow.yaml shows every key, set or
// commented out.
func TestSiteExampleIsComplete(t *testing.T) {
	text, err := os.ReadFile("osflow.yaml")
	require.NoError(t, err)
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[config.Duration]() {
			return
		}
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			require.Regexp(t, `(?m)^[ #-]*`+name+`:`, string(text), "osflow.yaml does not show %s", path+name)
			walk(typ.Field(i).Type, path+name+".")
		}
	}
	walk(reflect.TypeFor[config.Config](), "")
}

// TestUpstreamBuilds builds the embedded upstream and checks with dnf that
// every dependency is met within it.
func TestUpstreamBuilds(t *testing.T) {
	out := t.TempDir()
	require.NoError(t, upstream.BuildFS(t.Context(), Upstream, "upstream", out))
	for _, repo := range []string{"baseos", "appstream"} {
		require.FileExists(t, filepath.Join(out, repo, "repodata", "repomd.xml"))
	}
	rpms, err := filepath.Glob(filepath.Join(out, "*", "Packages", "*.rpm"))
	require.NoError(t, err)
	require.Len(t, rpms, 4)

	testtool.Need(t, "dnf")
	repoclosure := func(repos ...string) ([]byte, error) {
		state := t.TempDir()
		conf := filepath.Join(state, "dnf.conf")
		require.NoError(t, os.WriteFile(conf, []byte("[main]\n"), 0o644))
		args := []string{"-q", "-c", conf, "--setopt=reposdir=" + state, "--setopt=cachedir=" + filepath.Join(state, "cache"),
			"--releasever=9", "--forcearch=x86_64"}
		for _, r := range repos {
			args = append(args, "--repofrompath="+r+",file://"+filepath.Join(out, r))
		}
		args = append(args, "repoclosure")
		for _, r := range repos {
			args = append(args, "--check="+r)
		}
		return exec.CommandContext(t.Context(), "dnf", args...).CombinedOutput()
	}
	msg, err := repoclosure("baseos", "appstream")
	require.NoError(t, err, string(msg))
	// AppStream needs BaseOS, and repoclosure notices.
	msg, err = repoclosure("appstream")
	require.Error(t, err)
	require.Contains(t, string(msg), "hpc-base-tools")
}
