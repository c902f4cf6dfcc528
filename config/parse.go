package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
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
	defInt(&c.Sync.MaxAttempts, 5)

	def(&c.Channels.Daily, "daily")
	def(&c.Channels.Testing, "testing")
	def(&c.Channels.Production, "production")

	for i := range c.Repos {
		r := &c.Repos[i]
		if r.RequireSignature == nil && r.GPGKey != "" {
			yes := true
			r.RequireSignature = &yes
		}
	}

	defInt(&c.GC.KeepSnapshots, 14)
	defDur(&c.GC.MinAge, 7*24*time.Hour)

	def(&c.Dev.StateDir, ".osflow")
	def(&c.Dev.UpstreamListen, "127.0.0.1:8091")
	def(&c.Dev.TemporalCLI, "bin/temporal")
	defInt(&c.Dev.GRPCPort, 7233)
	defInt(&c.Dev.UIPort, 8233)
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

// resolve makes relative paths relative to dir. Values from the environment
// stay relative to the current directory.
func (d *decoder) resolve(c *Config, dir string) {
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
		abs(&c.Repos[i].GPGKey, fmt.Sprintf("repos[%d].gpgKey", i))
	}
	abs(&c.Dev.StateDir, "dev.stateDir")
	abs(&c.Dev.UpstreamSpecs, "dev.upstreamSpecs")
	if strings.ContainsRune(c.Dev.TemporalCLI, '/') {
		abs(&c.Dev.TemporalCLI, "dev.temporalCLI")
	}
}

var (
	repoNameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	channelNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	envNameRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// check validates the decoded, defaulted and resolved config.
func (d *decoder) check(c *Config) {
	if c.Store == "" {
		d.errorf("store", "required: the path of the store root")
	}
	d.checkTemporal(&c.Temporal)

	d.checkAddr("http.listen", c.HTTP.Listen)
	if u, err := d.checkURL("http.baseURL", c.HTTP.BaseURL, "http", "https"); err == nil {
		c.HTTP.BaseURL = u
	}
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

	d.checkChannels(c.Channels)
	d.checkRepos(c.Repos)

	d.between("gc.keepSnapshots", c.GC.KeepSnapshots, 1, 1<<20)
	d.nonNegative("gc.minAge", c.GC.MinAge)

	d.checkAddr("dev.upstreamListen", c.Dev.UpstreamListen)
	d.between("dev.grpcPort", c.Dev.GRPCPort, 1, 65535)
	d.between("dev.uiPort", c.Dev.UIPort, 1, 65535)
	if c.Dev.GRPCPort == c.Dev.UIPort {
		d.errorf("dev.uiPort", "%d is also dev.grpcPort", c.Dev.UIPort)
	}
}

func (d *decoder) checkTemporal(t *Temporal) {
	d.checkAddr("temporal.address", t.Address)
	if t.TaskQueue == t.RepoTaskQueue {
		d.errorf("temporal.repoTaskQueue", "must differ from temporal.taskQueue (%q): repo activities run only where the store is mounted", t.TaskQueue)
	}
	if !envNameRE.MatchString(t.APIKeyEnv) {
		d.errorf("temporal.apiKeyEnv", "%q is not an environment variable name", t.APIKeyEnv)
	}
	if t.APIKeyFile != "" {
		d.readable("temporal.apiKeyFile", t.APIKeyFile)
	}
	if t.TLS == nil {
		return
	}
	if (t.TLS.CertFile == "") != (t.TLS.KeyFile == "") {
		d.errorf("temporal.tls", "certFile and keyFile go together: set both or neither")
	}
	d.readable("temporal.tls.certFile", t.TLS.CertFile)
	d.readable("temporal.tls.keyFile", t.TLS.KeyFile)
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
	seen := map[string]int{}
	for i := range repos {
		r := &repos[i]
		p := fmt.Sprintf("repos[%d]", i)
		switch {
		case r.Name == "":
			d.errorf(p+".name", "required")
		case !repoNameRE.MatchString(r.Name):
			d.errorf(p+".name", "%q is not a repo name (lower case letter or digit, then lower case letters, digits, ., - or _)", r.Name)
		}
		if j, dup := seen[r.Name]; dup && r.Name != "" {
			d.errorf(p+".name", "duplicate repo %q (also repos[%d], line %d)", r.Name, j, d.line(fmt.Sprintf("repos[%d].name", j)))
		} else {
			seen[r.Name] = i
		}
		switch {
		case r.Overlay && r.URL != "":
			d.errorf(p+".url", "an overlay has no url: its packages live in STORE/overlays/%s", r.Name)
		case !r.Overlay && r.URL == "":
			d.errorf(p+".url", "required for a mirror (or set overlay: true)")
		case !r.Overlay:
			if u, err := d.checkURL(p+".url", r.URL, "http", "https", "file"); err == nil {
				r.URL = u
			}
		}
		if r.GPGKey != "" {
			d.readable(p+".gpgKey", r.GPGKey)
		} else if r.RequireSignature != nil && *r.RequireSignature {
			d.errorf(p+".requireSignature", "true needs gpgKey: there is no key to verify the signature with")
		}
	}
}

// checkURL returns u as an absolute URL of one of the schemes, ending with "/".
func (d *decoder) checkURL(path, raw string, schemes ...string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		d.errorf(path, "invalid URL %q: %v", raw, unwrapURLError(err))
		return "", err
	}
	fail := func(format string, args ...any) (string, error) {
		err := fmt.Errorf(format, args...)
		d.errorf(path, "%v", err)
		return "", err
	}
	switch {
	case u.Scheme == "":
		return fail("%q is not an absolute URL (want %s://...)", raw, strings.Join(schemes, ", "))
	case !slices.Contains(schemes, u.Scheme):
		return fail("scheme %q of %q is not supported (want %s)", u.Scheme, raw, strings.Join(schemes, ", "))
	case u.Scheme == "file" && (u.Path == "" || u.Host != "" && u.Host != "localhost"):
		return fail("%q: a file URL is file:///absolute/path/", raw)
	case u.Scheme != "file" && u.Host == "":
		return fail("%q has no host", raw)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fail("%q: a repo URL has no query, fragment or user info (give credentials another way)", raw)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	return u.String(), nil
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
	f, err := os.Open(file)
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
