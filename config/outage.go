package config

import (
	"fmt"
	"maps"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// This file holds the sections of the systems a production outage touches
// besides the store: notify (who is told), monitoring (what is silenced
// during the window) and backup (what runs before production moves).

// Notify says where osflow's messages (risk report, reminders, outcome) go.
// They are always logged; Webhook and SMTP add to that.
type Notify struct {
	Webhook *Webhook `yaml:"webhook"`
	SMTP    *SMTP    `yaml:"smtp"`
}

// Webhook is a Slack or Mattermost incoming webhook. Its URL embeds a
// token, so it is a secret: only an environment variable or a file names it.
type Webhook struct {
	URLEnv  string   `yaml:"urlEnv" secret:"env"`   // default "OSFLOW_WEBHOOK_URL"
	URLFile string   `yaml:"urlFile" secret:"file"` // when set, wins over URLEnv
	Timeout Duration `yaml:"timeout"`               // one request; default 10s
}

// SMTP sends mail through a submission server.
type SMTP struct {
	Host string `yaml:"host"` // required
	// Port defaults to 587 for starttls, 465 for implicit and 25 for none.
	Port int `yaml:"port"`
	// TLS is "starttls" (default: the server must offer STARTTLS),
	// "implicit" (TLS from the first byte, port 465) or "none" (a plain
	// link, only without a password).
	TLS    string   `yaml:"tls"`
	CAFile string   `yaml:"caFile"` // PEM CA bundle to trust instead of the system's
	From   string   `yaml:"from"`   // required: an address
	To     []string `yaml:"to"`     // required: addresses
	// User turns on AUTH PLAIN, which is only ever sent over TLS.
	User         string   `yaml:"user"`
	PasswordEnv  string   `yaml:"passwordEnv" secret:"env"`   // default "OSFLOW_SMTP_PASSWORD"
	PasswordFile string   `yaml:"passwordFile" secret:"file"` // when set, wins over PasswordEnv
	Helo         string   `yaml:"helo"`                       // name given in EHLO; default the host name
	Timeout      Duration `yaml:"timeout"`                    // the whole session; default 30s
}

// SMTP TLS modes.
const (
	SMTPStartTLS = "starttls"
	SMTPImplicit = "implicit"
	SMTPNone     = "none"
)

// Monitoring says what is silenced during an outage window. With neither
// set, silences are only logged.
type Monitoring struct {
	Alertmanager *Alertmanager `yaml:"alertmanager"`
	Nagios       *Nagios       `yaml:"nagios"`
}

// Alertmanager silences alerts through the Alertmanager v2 API.
type Alertmanager struct {
	URL string `yaml:"url"` // required: base URL, e.g. http://alertmanager:9093/
	// Matchers select the alerts to silence, all of them together, in
	// Alertmanager's syntax: name="value", name!="value", name=~"regex",
	// name!~"regex". Required.
	Matchers []Matcher `yaml:"matchers"`
	// User turns on HTTP basic auth (Alertmanager's web.config.file, or a
	// proxy in front of it).
	User         string   `yaml:"user"`
	PasswordEnv  string   `yaml:"passwordEnv" secret:"env"`   // default "ALERTMANAGER_PASSWORD"
	PasswordFile string   `yaml:"passwordFile" secret:"file"` // when set, wins over PasswordEnv
	Timeout      Duration `yaml:"timeout"`                    // one request; default 30s
}

// Nagios schedules downtime through Nagios's external command file. The
// worker that runs monitoring activities must run on the Nagios host.
type Nagios struct {
	// CommandFile is Nagios's command_file, a FIFO; default
	// /var/lib/nagios4/rw/nagios.cmd (Debian's nagios4).
	CommandFile string `yaml:"commandFile"`
	// StatusFile is Nagios's status_file, read to find the downtimes osflow
	// scheduled; default /var/lib/nagios4/status.dat.
	StatusFile string   `yaml:"statusFile"`
	Hostgroups []string `yaml:"hostgroups"` // required
	// Services also puts every service of the hosts in downtime. Default true.
	Services *bool `yaml:"services"`
	// GroupServices overrides Services for the host groups it names.
	GroupServices map[string]bool `yaml:"groupServices"`
	Author        string          `yaml:"author"` // default "osflow"
	// ConfirmTimeout is how long to wait for the status file to show a
	// change: Nagios writes it every status_update_interval (10s by
	// default). Default 2m.
	ConfirmTimeout Duration `yaml:"confirmTimeout"`
}

// SilencesServices reports whether service downtime is scheduled too, by
// default.
func (n Nagios) SilencesServices() bool { return n.Services == nil || *n.Services }

// SilencesServicesOf reports whether the services of a host group's hosts
// are put in downtime too.
func (n Nagios) SilencesServicesOf(group string) bool {
	if v, ok := n.GroupServices[group]; ok {
		return v
	}
	return n.SilencesServices()
}

// Backup is what runs before production is switched. With Bacula unset the
// backup step is only logged.
type Backup struct {
	Bacula *Bacula `yaml:"bacula"`
}

// Bacula runs one Bacula job through bconsole and waits for it.
type Bacula struct {
	Job string `yaml:"job"` // required: the name of a Job resource of the Director
	// Level overrides the job's level: Full, Incremental or Differential.
	Level string `yaml:"level"`
	// Bconsole is the program; default /usr/sbin/bconsole.
	Bconsole string `yaml:"bconsole"`
	// Config is bconsole's configuration, which holds the Director's
	// console password (keep it readable by osflow only); default
	// /etc/bacula/bconsole.conf.
	Config         string   `yaml:"config"`
	PollEvery      Duration `yaml:"pollEvery"`      // how often the job is checked; default 15s
	Timeout        Duration `yaml:"timeout"`        // the job, queued and running; default 6h
	CommandTimeout Duration `yaml:"commandTimeout"` // one bconsole call; default 1m
}

// URL returns the webhook URL, from URLFile or URLEnv as
// Temporal.APIKey does.
func (w Webhook) URL() (string, error) {
	return secret("webhook URL", w.URLEnv, w.URLFile)
}

// SecretName says where the URL comes from, for messages.
func (w Webhook) SecretName() string { return secretName(w.URLEnv, w.URLFile) }

// Password returns the SMTP password, from PasswordFile or PasswordEnv.
func (s SMTP) Password() (string, error) {
	return secret("smtp password", s.PasswordEnv, s.PasswordFile)
}

// SecretName says where the password comes from, for messages.
func (s SMTP) SecretName() string { return secretName(s.PasswordEnv, s.PasswordFile) }

// Password returns the Alertmanager password, from PasswordFile or
// PasswordEnv.
func (a Alertmanager) Password() (string, error) {
	return secret("alertmanager password", a.PasswordEnv, a.PasswordFile)
}

// SecretName says where the password comes from, for messages.
func (a Alertmanager) SecretName() string { return secretName(a.PasswordEnv, a.PasswordFile) }

func secretName(env, file string) string {
	if file != "" {
		return file
	}
	return "$" + env
}

// Matcher is one Alertmanager label matcher, written name="value" (or
// !=, =~, !~) in the config file.
type Matcher struct {
	Name  string
	Value string
	Regex bool // =~ or !~
	Equal bool // = or =~
}

var matcherRE = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$`)

// ParseMatcher reads name="value", name!="value", name=~"re" or
// name!~"re"; the value may be unquoted when it has no spaces or quotes.
func ParseMatcher(s string) (Matcher, error) {
	m := matcherRE.FindStringSubmatch(s)
	if m == nil {
		return Matcher{}, fmt.Errorf("%q is not a matcher (want name=\"value\", name!=\"value\", name=~\"regex\" or name!~\"regex\")", s)
	}
	v := m[3]
	if strings.HasPrefix(v, `"`) {
		u, err := strconv.Unquote(v)
		if err != nil {
			return Matcher{}, fmt.Errorf("%q: the value %s is not a well-quoted string", s, v)
		}
		v = u
	} else if strings.ContainsAny(v, "\"' \t") {
		return Matcher{}, fmt.Errorf("%q: quote a value that has spaces or quotes", s)
	}
	mt := Matcher{Name: m[1], Value: v, Regex: strings.HasSuffix(m[2], "~"), Equal: !strings.HasPrefix(m[2], "!")}
	if mt.Regex {
		// Alertmanager anchors the expression and uses Go's RE2 syntax.
		if _, err := regexp.Compile("^(?:" + v + ")$"); err != nil {
			return Matcher{}, fmt.Errorf("%q: bad regular expression: %v", s, err)
		}
	}
	if mt.Equal && (v == "" || mt.Regex && regexp.MustCompile("^(?:"+v+")$").MatchString("")) {
		// Alertmanager refuses a silence all of whose matchers match the
		// empty string; one such matcher among others is allowed but is
		// almost always a mistake here.
		return Matcher{}, fmt.Errorf("%q matches alerts without the label %s too: give a value", s, mt.Name)
	}
	return mt, nil
}

// String writes the matcher back in the config file's syntax.
func (m Matcher) String() string {
	op := map[[2]bool]string{{false, true}: "=", {false, false}: "!=", {true, true}: "=~", {true, false}: "!~"}[[2]bool{m.Regex, m.Equal}]
	return m.Name + op + strconv.Quote(m.Value)
}

// UnmarshalYAML reads a matcher such as cluster="production".
func (m *Matcher) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &valueError{n.Line, "must be a matcher such as cluster=\"production\", got " + describe(n)}
	}
	v, err := ParseMatcher(n.Value)
	if err != nil {
		return &valueError{n.Line, err.Error()}
	}
	*m = v
	return nil
}

// MarshalYAML writes the matcher as String does.
func (m Matcher) MarshalYAML() (any, error) { return m.String(), nil }

func (d *decoder) outageDefaults(c *Config) {
	defDur := func(x *Duration, v time.Duration) {
		if x.Duration == 0 {
			x.Duration = v
		}
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	if w := c.Notify.Webhook; w != nil {
		def(&w.URLEnv, "OSFLOW_WEBHOOK_URL")
		defDur(&w.Timeout, 10*time.Second)
	}
	if s := c.Notify.SMTP; s != nil {
		def(&s.TLS, SMTPStartTLS)
		if s.Port == 0 {
			s.Port = map[string]int{SMTPStartTLS: 587, SMTPImplicit: 465, SMTPNone: 25}[s.TLS]
		}
		def(&s.PasswordEnv, "OSFLOW_SMTP_PASSWORD")
		defDur(&s.Timeout, 30*time.Second)
	}
	if a := c.Monitoring.Alertmanager; a != nil {
		def(&a.PasswordEnv, "ALERTMANAGER_PASSWORD")
		defDur(&a.Timeout, 30*time.Second)
	}
	if n := c.Monitoring.Nagios; n != nil {
		def(&n.CommandFile, "/var/lib/nagios4/rw/nagios.cmd")
		def(&n.StatusFile, "/var/lib/nagios4/status.dat")
		def(&n.Author, "osflow")
		defDur(&n.ConfirmTimeout, 2*time.Minute)
	}
	if b := c.Backup.Bacula; b != nil {
		def(&b.Bconsole, "/usr/sbin/bconsole")
		def(&b.Config, "/etc/bacula/bconsole.conf")
		defDur(&b.PollEvery, 15*time.Second)
		defDur(&b.Timeout, 6*time.Hour)
		defDur(&b.CommandTimeout, time.Minute)
	}
}

func (d *decoder) outageResolve(c *Config, abs func(p *string, path string)) {
	if w := c.Notify.Webhook; w != nil {
		abs(&w.URLFile, "notify.webhook.urlFile")
	}
	if s := c.Notify.SMTP; s != nil {
		abs(&s.CAFile, "notify.smtp.caFile")
		abs(&s.PasswordFile, "notify.smtp.passwordFile")
	}
	if a := c.Monitoring.Alertmanager; a != nil {
		abs(&a.PasswordFile, "monitoring.alertmanager.passwordFile")
	}
	if n := c.Monitoring.Nagios; n != nil {
		abs(&n.CommandFile, "monitoring.nagios.commandFile")
		abs(&n.StatusFile, "monitoring.nagios.statusFile")
	}
	if b := c.Backup.Bacula; b != nil {
		abs(&b.Config, "backup.bacula.config")
		if strings.ContainsRune(b.Bconsole, '/') {
			abs(&b.Bconsole, "backup.bacula.bconsole")
		}
	}
}

var (
	hostgroupRE = regexp.MustCompile(`^[^;\s]+$`)
	baculaJobRE = regexp.MustCompile(`^[A-Za-z0-9 :._-]+$`) // Bacula's resource name characters
)

func (d *decoder) checkOutageSections(c *Config) {
	if w := c.Notify.Webhook; w != nil {
		d.checkSecret("notify.webhook.url", w.URLEnv, w.URLFile)
		d.positive("notify.webhook.timeout", w.Timeout)
	}
	if s := c.Notify.SMTP; s != nil {
		d.checkSMTP(s)
	}
	if a := c.Monitoring.Alertmanager; a != nil {
		const p = "monitoring.alertmanager"
		if a.URL == "" {
			d.errorf(p+".url", "required: the Alertmanager, such as http://alertmanager.example.org:9093/")
		}
		d.normURL(p+".url", &a.URL, "http", "https")
		if len(a.Matchers) == 0 {
			d.errorf(p+".matchers", `required: the alerts to silence, such as ['cluster="production"']`)
		}
		if a.User != "" {
			d.checkSecret(p+".password", a.PasswordEnv, a.PasswordFile)
		}
		d.positive(p+".timeout", a.Timeout)
	}
	if n := c.Monitoring.Nagios; n != nil {
		const p = "monitoring.nagios"
		if len(n.Hostgroups) == 0 {
			d.errorf(p+".hostgroups", "required: the host groups to put in downtime")
		}
		for i, g := range n.Hostgroups {
			if !hostgroupRE.MatchString(g) {
				d.errorf(fmt.Sprintf("%s.hostgroups[%d]", p, i), "%q is not a host group name (no spaces or ';')", g)
			}
		}
		for _, g := range slices.Sorted(maps.Keys(n.GroupServices)) {
			if !slices.Contains(n.Hostgroups, g) {
				d.errorf(p+".groupServices."+g, "%q is not one of monitoring.nagios.hostgroups", g)
			}
		}
		if strings.ContainsAny(n.Author, ";\n") || strings.TrimSpace(n.Author) == "" {
			d.errorf(p+".author", "%q: a non-blank name without ';' or line breaks", n.Author)
		}
		d.positive(p+".confirmTimeout", n.ConfirmTimeout)
	}
	if b := c.Backup.Bacula; b != nil {
		const p = "backup.bacula"
		switch {
		case b.Job == "":
			d.errorf(p+".job", "required: the name of the Job resource to run")
		case !baculaJobRE.MatchString(b.Job):
			d.errorf(p+".job", "%q is not a Bacula job name (letters, digits, space, and :._-)", b.Job)
		}
		if b.Level != "" {
			d.oneOf(p+".level", b.Level, "Full", "Incremental", "Differential")
		}
		d.readable(p+".config", b.Config)
		d.positive(p+".pollEvery", b.PollEvery)
		d.positive(p+".timeout", b.Timeout)
		d.positive(p+".commandTimeout", b.CommandTimeout)
	}
}

func (d *decoder) checkSMTP(s *SMTP) {
	const p = "notify.smtp"
	if s.Host == "" {
		d.errorf(p+".host", "required: the mail submission server")
	} else if strings.ContainsAny(s.Host, " /:") {
		d.errorf(p+".host", "%q is not a host name (give the port in port)", s.Host)
	}
	d.between(p+".port", s.Port, 1, 65535)
	d.oneOf(p+".tls", s.TLS, SMTPStartTLS, SMTPImplicit, SMTPNone)
	if s.TLS == SMTPNone && s.User != "" {
		d.errorf(p+".tls", "none with a user: osflow never sends a password over a link without TLS (use starttls or implicit)")
	}
	if s.TLS == SMTPNone && s.CAFile != "" {
		d.errorf(p+".caFile", "not used with tls: none")
	}
	d.readable(p+".caFile", s.CAFile)
	if s.From == "" {
		d.errorf(p+".from", "required: the sender address")
	} else if _, err := mail.ParseAddress(s.From); err != nil {
		d.errorf(p+".from", "%q is not a mail address: %v", s.From, err)
	}
	if len(s.To) == 0 {
		d.errorf(p+".to", "required: at least one recipient address")
	}
	for i, to := range s.To {
		if _, err := mail.ParseAddress(to); err != nil {
			d.errorf(fmt.Sprintf("%s.to[%d]", p, i), "%q is not a mail address: %v", to, err)
		}
	}
	if s.User != "" {
		d.checkSecret(p+".password", s.PasswordEnv, s.PasswordFile)
	}
	if strings.ContainsAny(s.Helo, " \r\n") {
		d.errorf(p+".helo", "%q is not a host name", s.Helo)
	}
	d.positive(p+".timeout", s.Timeout)
}
