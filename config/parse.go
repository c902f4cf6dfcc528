package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/osflow/osflow/integrations/repo"
)

// Parse decodes and checks a config file's content. name is the file it came
// from and prefixes every error. Relative paths are resolved against the
// directory of name, or left relative to the current directory when name has
// none (an embedded config).
func Parse(name string, data []byte) (*Config, error) {
	d := newDecoder(name)
	c := &Config{Path: name}
	root, ok := d.document(data)
	if !ok {
		return nil, d.err()
	}
	if root != nil {
		d.value(root, reflect.ValueOf(c).Elem(), "")
	}
	d.applyEnv(c)
	d.defaults(c)
	d.resolve(c, baseDir(name))
	d.check(c)
	if err := d.err(); err != nil {
		return nil, err
	}
	return c, nil
}

func baseDir(name string) string {
	if !strings.ContainsRune(name, filepath.Separator) {
		return ""
	}
	return filepath.Dir(name)
}

// applyEnv lets the environment override the Temporal connection, as the
// temporal CLI does.
func (d *decoder) applyEnv(c *Config) {
	set := func(dst *string, path, env string) {
		if v := os.Getenv(env); v != "" {
			*dst = v
			d.env[path] = env
		}
	}
	set(&c.Temporal.Address, "temporal.address", "TEMPORAL_ADDRESS")
	set(&c.Temporal.Namespace, "temporal.namespace", "TEMPORAL_NAMESPACE")
	var tls TLS
	if c.Temporal.TLS != nil {
		tls = *c.Temporal.TLS
	}
	set(&tls.CertFile, "temporal.tls.certFile", "TEMPORAL_TLS_CERT")
	set(&tls.KeyFile, "temporal.tls.keyFile", "TEMPORAL_TLS_KEY")
	set(&tls.CAFile, "temporal.tls.caFile", "TEMPORAL_TLS_CA")
	set(&tls.ServerName, "temporal.tls.serverName", "TEMPORAL_TLS_SERVER_NAME")
	if c.Temporal.TLS != nil || tls != (TLS{}) {
		c.Temporal.TLS = &tls
	}
}

// defaults fills every zero value that has a default.
func (d *decoder) defaults(c *Config) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defInt := func(i *int, v int) {
		if *i == 0 {
			*i = v
		}
	}
	defDur := func(x *Duration, v time.Duration) {
		if x.Duration == 0 {
			x.Duration = v
		}
	}
	t := &c.Temporal
	def(&t.Address, "127.0.0.1:7233")
	def(&t.Namespace, "default")
	def(&t.TaskQueue, "osflow")
	def(&t.RepoTaskQueue, "osflow-repo")
	def(&t.APIKeyEnv, "TEMPORAL_API_KEY")

	def(&c.HTTP.Listen, "127.0.0.1:8080")
	if c.HTTP.BaseURL == "" {
		c.HTTP.BaseURL = "http://" + clientAddr(c.HTTP.Listen) + "/"
	}
	def(&c.Log.Format, "json")
	def(&c.Log.Level, "info")

	if len(c.Schedule.Cron) == 0 {
		c.Schedule.Cron = []string{"0 3 * * *"}
	}
	def(&c.Schedule.TimeZone, "UTC")

	defInt(&c.Sync.Concurrency, 16)
	defDur(&c.Sync.Timeout, 2*time.Hour)
	defDur(&c.Sync.HeartbeatTimeout, 2*time.Minute)
	if !d.given("sync.maxAttempts") {
		defInt(&c.Sync.MaxAttempts, 25)
	}
	defInt(&c.Sync.MaxDownloads, 32)
	defInt(&c.Sync.LinkLimit, repo.DefaultLinkLimit)
	if c.Sync.MinSpeed == (Speed{}) {
		c.Sync.MinSpeed = Speed{BytesPerSecond: 10 << 10, Window: time.Minute}
	}

	def(&c.Channels.Daily, "daily")
	def(&c.Channels.Testing, "testing")
	def(&c.Channels.Production, "production")

	for i := range c.Repos {
		r := &c.Repos[i]
		if r.RequireSignature == nil && r.GPGKey != "" {
			r.RequireSignature = new(true)
		}
	}

	defInt(&c.GC.KeepSnapshots, 14)
	defDur(&c.GC.MinAge, 7*24*time.Hour)

	tc := &c.Testing
	for i := range tc.Suites {
		s := &tc.Suites[i]
		defDur(&s.Timeout, time.Hour)
		if s.Jenkins != nil {
			def(&s.Jenkins.TokenEnv, "JENKINS_TOKEN")
		}
	}
	defInt(&tc.Gate.CleanRounds, 2)
	def(&tc.Gate.BlockerLabel, "blocker")
	if tc.CloseOnPass == nil {
		tc.CloseOnPass = new(true)
	}
	if !d.given("testing.roundInterval") {
		defDur(&tc.RoundInterval, 24*time.Hour)
	}

	if g := c.Tickets.GitHub; g != nil {
		def(&g.TokenEnv, "GITHUB_TOKEN")
		def(&g.Label, "osflow")
	} else {
		def(&c.Tickets.Dir, filepath.Join(filepath.Dir(filepath.Clean(c.Store)), "tickets"))
	}

	for i := range c.Outage.Tasks {
		if t := &c.Outage.Tasks[i]; !t.Manual {
			defDur(&t.Timeout, 4*t.Expected.Duration)
		}
	}

	c.Git.each(func(_ string, r *GitRepo) {
		def(&r.TestBranch, "test")
		def(&r.ProductionBranch, "production")
	})
	def(&c.Wiki.Branch, "master")
	d.outageDefaults(c)
	d.productionDefaults(c)
	d.sourcesDefaults(c)

	def(&c.Dev.StateDir, ".osflow")
	def(&c.Dev.GitDir, filepath.Join(c.Dev.StateDir, "git"))
	def(&c.Dev.UpstreamListen, "127.0.0.1:8091")
	def(&c.Dev.TemporalCLI, "bin/temporal")
	defInt(&c.Dev.UIPort, 8233)
}

// given reports whether the file sets the key at path (to any value, null
// and zero too).
func (d *decoder) given(path string) bool {
	_, ok := d.lines[path]
	return ok
}

// each calls f with every git repo, config ones first, and its key path.
func (g *Git) each(f func(path string, r *GitRepo)) {
	for i := range g.Config {
		f(fmt.Sprintf("git.config[%d]", i), &g.Config[i])
	}
	for i := range g.Monitoring {
		f(fmt.Sprintf("git.monitoring[%d]", i), &g.Monitoring[i])
	}
}

// clientAddr turns a listen address into one a client can dial: an empty or
// unspecified host becomes localhost.
func clientAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// resolve makes relative paths absolute, against dir (the current
// directory when dir is ""). Values from the environment stay as given.
func (d *decoder) resolve(c *Config, dir string) {
	// Absolute from here on: a relative path would mean something else to
	// every process or git command that runs in another directory.
	if a, err := filepath.Abs(dir); err == nil {
		dir = a
	}
	abs := func(p *string, path string) {
		if *p == "" || filepath.IsAbs(*p) {
			return
		}
		if _, fromEnv := d.env[path]; fromEnv {
			return
		}
		*p = filepath.Join(dir, *p)
	}
	abs(&c.Store, "store")
	if t := c.Temporal.TLS; t != nil {
		abs(&t.CertFile, "temporal.tls.certFile")
		abs(&t.KeyFile, "temporal.tls.keyFile")
		abs(&t.CAFile, "temporal.tls.caFile")
	}
	abs(&c.Temporal.APIKeyFile, "temporal.apiKeyFile")
	for i := range c.Repos {
		r, p := &c.Repos[i], fmt.Sprintf("repos[%d]", i)
		abs(&r.GPGKey, p+".gpgKey")
		if t := r.TLS; t != nil {
			abs(&t.ClientCert, p+".tls.clientCert")
			abs(&t.ClientKey, p+".tls.clientKey")
			abs(&t.CACert, p+".tls.caCert")
		}
	}
	for i := range c.Testing.Suites {
		s := &c.Testing.Suites[i]
		p := fmt.Sprintf("testing.suites[%d]", i)
		abs(&s.Dir, p+".dir")
		if s.Jenkins != nil {
			abs(&s.Jenkins.TokenFile, p+".jenkins.tokenFile")
		}
	}
	abs(&c.Tickets.Dir, "tickets.dir")
	if g := c.Tickets.GitHub; g != nil {
		abs(&g.TokenFile, "tickets.github.tokenFile")
	}
	c.Git.each(func(p string, r *GitRepo) {
		if isLocalPath(r.URL) {
			abs(&r.URL, p+".url")
		}
	})
	if isLocalPath(c.Wiki.URL) {
		abs(&c.Wiki.URL, "wiki.url")
	}
	d.outageResolve(c, abs)
	d.productionResolve(c, abs)
	d.sourcesResolve(c, abs)
	abs(&c.Dev.StateDir, "dev.stateDir")
	abs(&c.Dev.UpstreamSpecs, "dev.upstreamSpecs")
	abs(&c.Dev.GitDir, "dev.gitDir")
	if strings.ContainsRune(c.Dev.TemporalCLI, '/') {
		abs(&c.Dev.TemporalCLI, "dev.temporalCLI")
	}
}

var (
	nameRE        = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`) // repos, suites, sets, tasks, git repos
	channelNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	envNameRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	githubRepoRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$`)
	// branchRE is a conservative subset of what git check-ref-format allows.
	branchRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._/-]*$`)
)

// check validates the decoded, defaulted and resolved config.
func (d *decoder) check(c *Config) {
	if c.Store == "" {
		d.errorf("store", "required: the path of the store root")
	}
	d.checkTemporal(&c.Temporal)

	d.checkAddr("http.listen", c.HTTP.Listen)
	d.normURL("http.baseURL", &c.HTTP.BaseURL, "http", "https")
	if c.Metrics.Listen != "" {
		d.checkAddr("metrics.listen", c.Metrics.Listen)
	}
	d.oneOf("log.format", c.Log.Format, "json", "console")
	d.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")

	for i, expr := range c.Schedule.Cron {
		if err := checkCron(expr); err != nil {
			d.errorf(fmt.Sprintf("schedule.cron[%d]", i), "%v", err)
		}
	}
	if _, err := time.LoadLocation(c.Schedule.TimeZone); err != nil || c.Schedule.TimeZone == "Local" {
		d.errorf("schedule.timeZone", "unknown time zone %q (want an IANA name such as Europe/Berlin, or UTC)", c.Schedule.TimeZone)
	}
	d.nonNegative("schedule.jitter", c.Schedule.Jitter)

	d.between("sync.concurrency", c.Sync.Concurrency, 1, 256)
	d.positive("sync.timeout", c.Sync.Timeout)
	d.positive("sync.heartbeatTimeout", c.Sync.HeartbeatTimeout)
	if c.Sync.HeartbeatTimeout.Duration >= c.Sync.Timeout.Duration && c.Sync.Timeout.Duration > 0 {
		d.errorf("sync.heartbeatTimeout", "%s must be shorter than sync.timeout (%s)", c.Sync.HeartbeatTimeout, c.Sync.Timeout)
	}
	d.between("sync.maxAttempts", c.Sync.MaxAttempts, 1, 1000)
	d.between("sync.maxDownloads", c.Sync.MaxDownloads, 1, 1024)
	d.between("sync.linkLimit", c.Sync.LinkLimit, 2, 60000)

	d.checkChannels(c.Channels)
	d.checkRepos(c.Repos)

	d.between("gc.keepSnapshots", c.GC.KeepSnapshots, 1, 1<<20)
	d.nonNegative("gc.minAge", c.GC.MinAge)

	d.checkTesting(&c.Testing)
	d.checkTickets(&c.Tickets)
	d.checkOutage(c.Outage.Tasks)
	d.checkGit(&c.Git)
	d.checkWiki(&c.Wiki)
	d.checkOutageSections(c)
	d.checkProduction(c)
	d.checkSources(c)

	d.checkAddr("dev.upstreamListen", c.Dev.UpstreamListen)
	d.between("dev.uiPort", c.Dev.UIPort, 1, 65535)
}

func (d *decoder) checkTemporal(t *Temporal) {
	d.checkAddr("temporal.address", t.Address)
	if t.TaskQueue == t.RepoTaskQueue {
		d.errorf("temporal.repoTaskQueue", "must differ from temporal.taskQueue (%q): repo activities run only where the store is mounted", t.TaskQueue)
	}
	d.checkSecret("temporal.apiKey", t.APIKeyEnv, t.APIKeyFile)
	if t.TLS == nil {
		return
	}
	if (t.TLS.CertFile == "") != (t.TLS.KeyFile == "") {
		d.errorf("temporal.tls", "certFile and keyFile go together: set both or neither")
	}
	d.readable("temporal.tls.certFile", t.TLS.CertFile)
	d.secretFile("temporal.tls.keyFile", t.TLS.KeyFile)
	d.readable("temporal.tls.caFile", t.TLS.CAFile)
}

func (d *decoder) checkChannels(ch Channels) {
	seen := map[string]string{}
	for _, c := range []struct{ key, name string }{
		{"channels.daily", ch.Daily}, {"channels.testing", ch.Testing}, {"channels.production", ch.Production},
	} {
		if !channelNameRE.MatchString(c.name) {
			d.errorf(c.key, "%q is not a channel name (lower case letter, then lower case letters, digits, - or _)", c.name)
		}
		if other, dup := seen[c.name]; dup {
			d.errorf(c.key, "%q is also %s: channel names must be distinct", c.name, other)
		}
		seen[c.name] = c.key
	}
}

func (d *decoder) checkRepos(repos []Repo) {
	if len(repos) == 0 {
		d.errorf("repos", "required: at least one repo")
	}
	seen := map[string]string{}
	for i := range repos {
		r := &repos[i]
		p := fmt.Sprintf("repos[%d]", i)
		d.checkName(p, "repo", r.Name, seen)
		switch {
		case r.Overlay && r.URL != "":
			d.errorf(p+".url", "an overlay has no url: its packages live in STORE/overlays/%s", r.Name)
		case !r.Overlay && r.URL == "" && r.Mirrorlist == "" && r.Metalink == "":
			d.errorf(p+".url", "required for a mirror, unless mirrorlist or metalink is set (or set overlay: true)")
		case !r.Overlay:
			d.normURL(p+".url", &r.URL, "http", "https", "file")
		}
		switch r.Kind {
		case "", RepoKindRPMMD:
		case RepoKindTree, RepoKindAuto:
			if r.Overlay && r.Kind == RepoKindTree {
				d.errorf(p+".kind", "an overlay is a repository osflow indexes itself, never a distribution tree")
			}
			if r.URL == "" && (r.Mirrorlist != "" || r.Metalink != "") {
				d.errorf(p+".kind", "%s: a distribution tree is read from its url; mirrorlist and metalink list repositories", r.Kind)
			}
		default:
			d.errorf(p+".kind", "%q is not a repo kind: %s (the default), %s or %s", r.Kind, RepoKindRPMMD, RepoKindTree, RepoKindAuto)
		}
		if r.GPGKey != "" {
			d.readable(p+".gpgKey", r.GPGKey)
		} else if r.RequireSignature != nil && *r.RequireSignature {
			d.errorf(p+".requireSignature", "true needs gpgKey: there is no key to verify the signature with")
		}
		if r.Overlay && len(r.AllowRedirectHosts) > 0 {
			d.errorf(p+".allowRedirectHosts", "an overlay is read from disk: there is nothing to redirect")
		}
		for j, h := range r.AllowRedirectHosts {
			d.checkRedirectHost(fmt.Sprintf("%s.allowRedirectHosts[%d]", p, j), h)
		}
		d.nonNegative(p+".maxAge", r.MaxAge)
		d.checkRepoNetwork(p, r)
		if strings.ContainsFunc(r.Description, unicode.IsControl) {
			d.errorf(p+".description", "must be one line of text: it becomes the name= of the repo in `osflow repo files`")
		}
		if b := r.Bypass; b != nil {
			if !r.Overlay {
				d.errorf(p+".bypass", "only an overlay can be bypassed: a mirror's packages come from its upstream")
			}
			if len(b.Allow) == 0 {
				d.errorf(p+".bypass.allow", "required: the package name patterns a bypass may add (openssl*, vendor-app)")
			}
			for j, pat := range b.Allow {
				if _, err := path.Match(pat, ""); err != nil || strings.TrimSpace(pat) == "" || strings.Contains(pat, "/") {
					d.errorf(fmt.Sprintf("%s.bypass.allow[%d]", p, j), "%q is not a package name pattern", pat)
				}
			}
		}
	}
}

// checkRedirectHost checks a host a redirect may lead to: a host name or
// IP address, with an optional port, and nothing else.
func (d *decoder) checkRedirectHost(path, h string) {
	host, port := h, ""
	if hp, p, err := net.SplitHostPort(h); err == nil {
		host, port = hp, p
	}
	if host == "" || strings.ContainsAny(h, "/@?# \t") || strings.Contains(host, ":") && net.ParseIP(host) == nil {
		d.errorf(path, "%q is not a host or host:port (no scheme, path or user)", h)
		return
	}
	if n, err := strconv.Atoi(port); port != "" && (err != nil || n < 1 || n > 65535) {
		d.errorf(path, "%q: port %q is not a number from 1 to 65535", h, port)
	}
}

// checkName checks the name of the list item at item: required, well formed,
// and not taken by an earlier item of seen (name -> item), where it goes.
func (d *decoder) checkName(item, kind, name string, seen map[string]string) {
	p := item + ".name"
	switch {
	case name == "":
		d.errorf(p, "required")
		return
	case !nameRE.MatchString(name):
		d.errorf(p, "%q is not a %s name (lower case letter or digit, then lower case letters, digits, ., - or _)", name, kind)
	}
	if first, dup := seen[name]; dup {
		d.errorf(p, "duplicate %s %q (also %s, line %d)", kind, name, first, d.line(first+".name"))
		return
	}
	seen[name] = item
}

// choice is one of the keys of which exactlyOne wants one set.
type choice struct {
	key string
	set bool
}

// exactlyOne reports at path unless exactly one of the choices is set.
func (d *decoder) exactlyOne(path string, choices ...choice) {
	var all, set []string
	for _, c := range choices {
		all = append(all, c.key)
		if c.set {
			set = append(set, c.key)
		}
	}
	switch {
	case len(set) == 0:
		d.errorf(path, "set one of %s", list(all, "or"))
	case len(set) > 1:
		d.errorf(path, "%s are alternatives: set only one", list(set, "and"))
	}
}

// list writes items as "a, b or c".
func list(items []string, conj string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + conj + " " + items[len(items)-1]
}

func (d *decoder) checkTesting(t *Testing) {
	seen := map[string]string{}
	for i := range t.Suites {
		s := &t.Suites[i]
		p := fmt.Sprintf("testing.suites[%d]", i)
		d.checkName(p, "suite", s.Name, seen)
		d.exactlyOne(p, choice{"builtin", s.Builtin != ""}, choice{"command", len(s.Command) > 0}, choice{"jenkins", s.Jenkins != nil})
		if s.Builtin != "" {
			d.oneOf(p+".builtin", s.Builtin, "repoclosure", "install")
		}
		d.checkSets(p+".sets", s.Builtin == "install", s.Sets)
		d.checkArgv(p+".command", s.Command)
		if s.Dir != "" && len(s.Command) == 0 {
			d.errorf(p+".dir", "only a command suite has a working directory")
		}
		if s.Jenkins != nil {
			d.checkJenkins(p+".jenkins", s.Jenkins)
		}
		d.positive(p+".timeout", s.Timeout)
	}
	d.between("testing.gate.cleanRounds", t.Gate.CleanRounds, 1, 1000)
	if strings.TrimSpace(t.Gate.BlockerLabel) == "" {
		d.errorf("testing.gate.blockerLabel", "must not be blank")
	}
	d.nonNegative("testing.gate.minSoak", t.Gate.MinSoak)
	if t.RoundInterval.Duration < time.Minute {
		d.errorf("testing.roundInterval", "%s is too short: rounds are at least 1m apart (leave it out for 24h)", t.RoundInterval)
	}
}

// checkSets checks the package sets of a suite, which builtin install
// requires and other suites do not have.
func (d *decoder) checkSets(path string, install bool, sets map[string][]string) {
	switch {
	case install && len(sets) == 0:
		d.errorf(path, "required for builtin install: set name -> packages installed together")
	case !install && len(sets) > 0:
		d.errorf(path, "only builtin install has sets")
	}
	for _, name := range slices.Sorted(maps.Keys(sets)) {
		p := path + "." + name
		if !nameRE.MatchString(name) {
			d.errorf(p, "%q is not a set name (lower case letter or digit, then lower case letters, digits, ., - or _)", name)
		}
		if len(sets[name]) == 0 {
			d.errorf(p, "a set lists at least one package")
		}
		for j, pkg := range sets[name] {
			if pkg == "" || strings.ContainsAny(pkg, " \t\n/") {
				d.errorf(fmt.Sprintf("%s[%d]", p, j), "%q is not a package name", pkg)
			}
		}
	}
}

// checkArgv checks the argv of a command, when it has one.
func (d *decoder) checkArgv(path string, argv []string) {
	if len(argv) > 0 && strings.TrimSpace(argv[0]) == "" {
		d.errorf(path+"[0]", "the program to run is empty")
	}
}

func (d *decoder) checkJenkins(path string, j *Jenkins) {
	if j.URL == "" {
		d.errorf(path+".url", "required: the Jenkins server, such as https://ci.example.org/")
	}
	d.normURL(path+".url", &j.URL, "http", "https")
	switch {
	case j.Job == "":
		d.errorf(path+".job", "required: the job's full name, such as name or folder/name")
	case strings.HasPrefix(j.Job, "/") || strings.HasSuffix(j.Job, "/") || strings.Contains(j.Job, "//"):
		d.errorf(path+".job", "%q is not a job's full name (name or folder/name, with no empty part)", j.Job)
	}
	if j.User == "" {
		d.errorf(path+".user", "required: the user whose API token tokenEnv or tokenFile holds")
	}
	d.checkSecret(path+".token", j.TokenEnv, j.TokenFile)
}

func (d *decoder) checkTickets(t *Tickets) {
	for i, l := range t.Labels {
		if strings.TrimSpace(l) == "" {
			d.errorf(fmt.Sprintf("tickets.labels[%d]", i), "must not be blank")
		}
	}
	g := t.GitHub
	if g == nil {
		return
	}
	if t.Dir != "" {
		d.errorf("tickets.dir", "not used with tickets.github: set one or the other")
	}
	switch {
	case g.Repo == "":
		d.errorf("tickets.github.repo", "required: owner/name")
	case !githubRepoRE.MatchString(g.Repo):
		d.errorf("tickets.github.repo", "%q is not owner/name", g.Repo)
	}
	d.normURL("tickets.github.baseURL", &g.BaseURL, "http", "https")
	d.checkSecret("tickets.github.token", g.TokenEnv, g.TokenFile)
	if strings.TrimSpace(g.Label) == "" {
		d.errorf("tickets.github.label", "must not be blank")
	}
}

func (d *decoder) checkOutage(tasks []Task) {
	seen := map[string]string{}
	for i := range tasks {
		t := &tasks[i]
		p := fmt.Sprintf("outage.tasks[%d]", i)
		d.checkName(p, "task", t.Name, seen)
		d.exactlyOne(p, choice{"command", len(t.Command) > 0}, choice{"manual", t.Manual})
		d.checkArgv(p+".command", t.Command)
		if t.Expected.Duration == 0 {
			d.errorf(p+".expected", "required: the planned duration")
		} else {
			d.positive(p+".expected", t.Expected)
		}
		if t.Manual && t.Timeout.Duration != 0 {
			d.errorf(p+".timeout", "only a command task has a timeout: a manual one waits for osflow task-done")
		} else {
			d.nonNegative(p+".timeout", t.Timeout)
		}
	}
}

func (d *decoder) checkGit(g *Git) {
	seen := map[string]string{}
	g.each(func(p string, r *GitRepo) {
		d.checkName(p, "git repo", r.Name, seen)
		if r.URL == "" {
			d.errorf(p+".url", "required: an ssh, https or file URL, or a local path")
		} else {
			d.checkGitURL(p+".url", r.URL)
		}
		d.checkBranch(p+".testBranch", r.TestBranch)
		d.checkBranch(p+".productionBranch", r.ProductionBranch)
		if r.TestBranch == r.ProductionBranch {
			d.errorf(p+".productionBranch", "%q is also testBranch: a promotion merges one into the other", r.ProductionBranch)
		}
	})
}

func (d *decoder) checkWiki(w *Wiki) {
	if w.URL != "" {
		d.checkGitURL("wiki.url", w.URL)
	} else if w.PageURL != "" {
		d.errorf("wiki.pageURL", "needs wiki.url: without it no pages are published")
	}
	d.checkBranch("wiki.branch", w.Branch)
	d.normURL("wiki.pageURL", &w.PageURL, "http", "https")
}

// isLocalPath reports whether git takes remote for a local path: it has no
// scheme and no "host:" before its first "/".
func isLocalPath(remote string) bool {
	if strings.Contains(remote, "://") {
		return false
	}
	i := strings.IndexByte(remote, ':')
	return i < 0 || strings.Contains(remote[:i], "/")
}

// checkGitURL checks a git remote: an ssh, https or file URL, an scp-like
// [user@]host:path, or a local path. Only ssh may name a user, and only
// without a password.
func (d *decoder) checkGitURL(path, raw string) {
	switch {
	case isLocalPath(raw):
	case !strings.Contains(raw, "://"):
		userHost, repo, _ := strings.Cut(raw, ":")
		if host := userHost[strings.LastIndexByte(userHost, '@')+1:]; host == "" || repo == "" {
			d.errorf(path, "%q: an scp-like git URL is [user@]host:path", raw)
		}
	default:
		u, ok := d.parseURL(path, raw, "ssh", "https", "file")
		if !ok || u.User == nil {
			return
		}
		if _, pw := u.User.Password(); pw || u.Scheme != "ssh" {
			d.errorf(path, "%q: only an ssh URL names a user, and never a password (give credentials another way)", raw)
		}
	}
}

func (d *decoder) checkBranch(path, b string) {
	if !branchRE.MatchString(b) || strings.Contains(b, "..") || strings.Contains(b, "//") || strings.Contains(b, "/.") ||
		strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") || strings.HasSuffix(b, ".lock") {
		d.errorf(path, "%q is not a branch name", b)
	}
}

// checkSecret checks a secret reference: prefix+"Env" names an environment
// variable and prefix+"File", when set, is a readable regular file.
func (d *decoder) checkSecret(prefix, env, file string) {
	if !envNameRE.MatchString(env) {
		d.errorf(prefix+"Env", "%q is not an environment variable name", env)
	}
	d.secretFile(prefix+"File", file)
}

// secretFile checks that file, when set, is a regular file osflow may read
// a secret from.
func (d *decoder) secretFile(path, file string) {
	if file == "" {
		return
	}
	_, err := ReadSecretFile(file)
	switch {
	case errors.Is(err, ErrNotRegular):
		d.errorf(path, "%v", err)
	case err != nil:
		d.errorf(path, "cannot read %s: %v", file, unwrapPathError(err))
	}
}

// normURL checks *raw, when set, as an absolute URL of one of the schemes,
// without user info, and makes it end with "/".
func (d *decoder) normURL(path string, raw *string, schemes ...string) {
	if *raw == "" {
		return
	}
	u, ok := d.parseURL(path, *raw, schemes...)
	if !ok {
		return
	}
	if u.User != nil {
		d.errorf(path, "%q: no user info in this URL (give credentials another way)", *raw)
		return
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	*raw = u.String()
}

// parseURL parses raw as an absolute URL of one of the schemes, with a host
// (a path for file) and no query or fragment.
func (d *decoder) parseURL(path, raw string, schemes ...string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil && strings.Contains(raw, "@") {
		// The parser's reason quotes a piece of the user info (a password
		// holding a "/" ends the authority: `invalid port ":pa"`).
		d.errorf(path, "invalid URL %q: its user info does not parse (a \"/\", \"@\" or space in a password must be "+
			"written %%2F, %%40, %%20)", raw)
		return nil, false
	}
	if err != nil {
		d.errorf(path, "invalid URL %q: %v", raw, unwrapURLError(err))
		return nil, false
	}
	switch {
	case u.Scheme == "":
		d.errorf(path, "%q is not an absolute URL (want %s://...)", raw, strings.Join(schemes, ", "))
	case !slices.Contains(schemes, u.Scheme):
		d.errorf(path, "scheme %q of %q is not supported (want %s)", u.Scheme, raw, strings.Join(schemes, ", "))
	case u.Scheme == "file" && (u.Path == "" || u.Host != "" && u.Host != "localhost"):
		d.errorf(path, "%q: a file URL is file:///absolute/path/", raw)
	case u.Scheme != "file" && u.Host == "":
		d.errorf(path, "%q has no host", raw)
	case u.RawQuery != "" || u.Fragment != "":
		d.errorf(path, "%q: a URL here has no query or fragment", raw)
	default:
		return u, true
	}
	return nil, false
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func (d *decoder) checkAddr(path, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		d.errorf(path, "%q is not host:port", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		d.errorf(path, "%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if strings.ContainsAny(host, " /") {
		d.errorf(path, "%q: bad host %q", addr, host)
	}
}

func (d *decoder) readable(path, file string) {
	if file == "" {
		return
	}
	// O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
	f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		d.errorf(path, "cannot read %s: %v", file, unwrapPathError(err))
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		d.errorf(path, "%s is a directory, want a file", file)
	}
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func (d *decoder) oneOf(path, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		d.errorf(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

func (d *decoder) between(path string, v, lo, hi int) {
	if v < lo || v > hi {
		d.errorf(path, "%d is not between %d and %d", v, lo, hi)
	}
}

func (d *decoder) positive(path string, v Duration) {
	if v.Duration <= 0 {
		d.errorf(path, "%s must be positive", v)
	}
}

func (d *decoder) nonNegative(path string, v Duration) {
	if v.Duration < 0 {
		d.errorf(path, "%s must not be negative", v)
	}
}
