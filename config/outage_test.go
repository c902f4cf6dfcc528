package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const outageBase = "store: s\nrepos:\n  - name: baseos\n    url: http://mirror/baseos/\n"

func TestOutageSections(t *testing.T) {
	clearTemporalEnv(t)
	path := writeConfig(t, outageBase+`notify:
  webhook:
    urlFile: hook-url
  smtp:
    host: smtp.example.org
    from: osflow <osflow@example.org>
    to: [ops@example.org, "Management <mgmt@example.org>"]
    user: osflow
    passwordFile: smtp-password
    caFile: RPM-GPG-KEY-test
monitoring:
  alertmanager:
    url: http://alertmanager:9093
    matchers: ['cluster="production"', 'alertname=~"Node.*"', 'severity!=info', "team!~\"dev|test\""]
  nagios:
    hostgroups: [compute, login]
    services: false
    groupServices: {compute: true}
backup:
  bacula:
    job: BackupCatalog
    level: Full
    config: RPM-GPG-KEY-test
`)
	dir := filepath.Dir(path)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hook-url"), []byte("https://hooks.example.org/services/x\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "smtp-password"), []byte("from-file\n"), 0o600))
	c, err := Load(path)
	require.NoError(t, err)

	w := c.Notify.Webhook
	require.Equal(t, Webhook{URLEnv: "OSFLOW_WEBHOOK_URL", URLFile: filepath.Join(dir, "hook-url"), Timeout: Duration{10 * time.Second}}, *w)
	s := c.Notify.SMTP
	require.Equal(t, 587, s.Port)
	require.Equal(t, SMTPStartTLS, s.TLS)
	require.Equal(t, "OSFLOW_SMTP_PASSWORD", s.PasswordEnv)
	require.Equal(t, filepath.Join(dir, "smtp-password"), s.PasswordFile)
	require.Equal(t, 30*time.Second, s.Timeout.Duration)

	a := c.Monitoring.Alertmanager
	require.Equal(t, "http://alertmanager:9093/", a.URL)
	require.Equal(t, []Matcher{
		{Name: "cluster", Value: "production", Equal: true},
		{Name: "alertname", Value: "Node.*", Regex: true, Equal: true},
		{Name: "severity", Value: "info"},
		{Name: "team", Value: "dev|test", Regex: true},
	}, a.Matchers)
	require.Equal(t, `alertname=~"Node.*"`, a.Matchers[1].String())
	require.Equal(t, 30*time.Second, a.Timeout.Duration)

	n := c.Monitoring.Nagios
	require.Equal(t, "/var/lib/nagios4/rw/nagios.cmd", n.CommandFile)
	require.Equal(t, "/var/lib/nagios4/status.dat", n.StatusFile)
	require.False(t, n.SilencesServices())
	require.True(t, n.SilencesServicesOf("compute"))
	require.False(t, n.SilencesServicesOf("login"))
	require.Equal(t, "osflow", n.Author)
	require.Equal(t, 2*time.Minute, n.ConfirmTimeout.Duration)

	b := c.Backup.Bacula
	require.Equal(t, Bacula{Job: "BackupCatalog", Level: "Full", Bconsole: "/usr/sbin/bconsole", Config: filepath.Join(dir, "RPM-GPG-KEY-test"),
		PollEvery: Duration{15 * time.Second}, Timeout: Duration{6 * time.Hour}, CommandTimeout: Duration{time.Minute}}, *b)

	// The secrets are read when asked for, never stored.
	u, err := w.URL()
	require.NoError(t, err)
	require.Equal(t, "https://hooks.example.org/services/x", u)
	require.Equal(t, filepath.Join(dir, "hook-url"), w.SecretName())
	t.Setenv("OSFLOW_SMTP_PASSWORD", "from-env")
	pw, err := s.Password()
	require.NoError(t, err)
	require.Equal(t, "from-file", pw, "the file wins")
	s.PasswordFile = ""
	pw, err = s.Password()
	require.NoError(t, err)
	require.Equal(t, "from-env", pw)
}

func TestOutageSectionsDefaultToNothing(t *testing.T) {
	clearTemporalEnv(t)
	c, err := Load(writeConfig(t, outageBase))
	require.NoError(t, err)
	require.Nil(t, c.Notify.Webhook)
	require.Nil(t, c.Notify.SMTP)
	require.Nil(t, c.Monitoring.Alertmanager)
	require.Nil(t, c.Monitoring.Nagios)
	require.Nil(t, c.Backup.Bacula)

	c, err = Load(writeConfig(t, outageBase+"notify:\n  smtp:\n    host: mx\n    tls: implicit\n    from: a@b.c\n    to: [d@e.f]\n"))
	require.NoError(t, err)
	require.Equal(t, 465, c.Notify.SMTP.Port)
}

func TestOutageSectionErrors(t *testing.T) {
	clearTemporalEnv(t)
	tests := []struct {
		name, text string
		line       int
		path, msg  string
	}{
		{"literal webhook url", "notify:\n  webhook:\n    url: https://hooks.slack.com/services/x\n", 7, "notify.webhook.url", `secrets are references: use "urlEnv"`},
		{"bad urlEnv", "notify:\n  webhook:\n    urlEnv: $HOOK\n", 7, "notify.webhook.urlEnv", "is not an environment variable name"},
		{"smtp without host", "notify:\n  smtp:\n    from: a@b.c\n    to: [d@e.f]\n", 6, "notify.smtp.host", "required"},
		{"smtp host with port", "notify:\n  smtp:\n    host: mx:25\n    from: a@b.c\n    to: [d@e.f]\n", 7, "notify.smtp.host", "give the port in port"},
		{"plain auth without TLS", "notify:\n  smtp:\n    host: mx\n    tls: none\n    user: u\n    from: a@b.c\n    to: [d@e.f]\n", 8, "notify.smtp.tls", "never sends a password over a link without TLS"},
		{"bad tls mode", "notify:\n  smtp:\n    host: mx\n    tls: ssl\n    from: a@b.c\n    to: [d@e.f]\n", 8, "notify.smtp.tls", `"ssl" is not one of starttls, implicit, none`},
		{"bad from", "notify:\n  smtp:\n    host: mx\n    from: osflow\n    to: [d@e.f]\n", 8, "notify.smtp.from", `"osflow" is not a mail address`},
		{"bad recipient", "notify:\n  smtp:\n    host: mx\n    from: a@b.c\n    to: [d@e.f, nobody]\n", 9, "notify.smtp.to[1]", `"nobody" is not a mail address`},
		{"no recipients", "notify:\n  smtp:\n    host: mx\n    from: a@b.c\n", 6, "notify.smtp.to", "required"},
		{"literal smtp password", "notify:\n  smtp:\n    host: mx\n    from: a@b.c\n    to: [d@e.f]\n    password: hunter2\n", 10, "notify.smtp.password", `use "passwordEnv"`},
		{"missing caFile", "notify:\n  smtp:\n    host: mx\n    from: a@b.c\n    to: [d@e.f]\n    caFile: /nonexistent/ca.pem\n", 10, "notify.smtp.caFile", "cannot read /nonexistent/ca.pem"},
		{"alertmanager without url", "monitoring:\n  alertmanager:\n    matchers: ['a=\"b\"']\n", 6, "monitoring.alertmanager.url", "required"},
		{"alertmanager without matchers", "monitoring:\n  alertmanager:\n    url: http://am:9093/\n", 6, "monitoring.alertmanager.matchers", "required"},
		{"bad matcher", "monitoring:\n  alertmanager:\n    url: http://am:9093/\n    matchers:\n      - 'cluster=\"prod\"'\n      - 'cluster is prod'\n", 10, "monitoring.alertmanager.matchers[1]", `"cluster is prod" is not a matcher`},
		{"bad regex", "monitoring:\n  alertmanager:\n    url: http://am:9093/\n    matchers: ['job=~\"(slurm\"']\n", 8, "monitoring.alertmanager.matchers[0]", "bad regular expression"},
		{"matcher matching everything", "monitoring:\n  alertmanager:\n    url: http://am:9093/\n    matchers: ['job=~\".*\"']\n", 8, "monitoring.alertmanager.matchers[0]", "matches alerts without the label job too"},
		{"alertmanager user info", "monitoring:\n  alertmanager:\n    url: http://me:pw@am:9093/\n    matchers: ['a=\"b\"']\n", 7, "monitoring.alertmanager.url", "no user info"},
		{"nagios without hostgroups", "monitoring:\n  nagios:\n    author: osflow\n", 6, "monitoring.nagios.hostgroups", "required"},
		{"nagios groupServices of another group", "monitoring:\n  nagios:\n    hostgroups: [compute]\n    groupServices: {login: false}\n", 8, "monitoring.nagios.groupServices.login", `"login" is not one of monitoring.nagios.hostgroups`},
		{"nagios bad hostgroup", "monitoring:\n  nagios:\n    hostgroups: ['compute;rm -rf']\n", 7, "monitoring.nagios.hostgroups[0]", "is not a host group name"},
		{"bacula without job", "backup:\n  bacula:\n    config: RPM-GPG-KEY-test\n", 6, "backup.bacula.job", "required"},
		{"bacula bad level", "backup:\n  bacula:\n    job: j\n    level: full\n    config: RPM-GPG-KEY-test\n", 8, "backup.bacula.level", `"full" is not one of Full, Incremental, Differential`},
		{"bacula job with a quote", "backup:\n  bacula:\n    job: 'a\" yes'\n    config: RPM-GPG-KEY-test\n", 7, "backup.bacula.job", "is not a Bacula job name"},
		{"bconsole config missing", "backup:\n  bacula:\n    job: j\n    config: /nonexistent/bconsole.conf\n", 8, "backup.bacula.config", "cannot read"},
		{"unknown key", "backup:\n  bacula:\n    jobs: [a]\n", 7, "backup.bacula.jobs", `did you mean "job"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, outageBase+tt.text)
			_, err := Load(path)
			require.Error(t, err)
			require.Contains(t, err.Error(), fmt.Sprintf("%s:%d: %s: ", path, tt.line, tt.path))
			require.Contains(t, err.Error(), tt.msg)
			var fe *FieldError
			require.True(t, errors.As(err, &fe))
		})
	}
}

func TestParseMatcher(t *testing.T) {
	for in, want := range map[string]Matcher{
		`cluster="production"`:        {Name: "cluster", Value: "production", Equal: true},
		`cluster = production`:        {Name: "cluster", Value: "production", Equal: true},
		`name!="a \"quoted\" value"`:  {Name: "name", Value: `a "quoted" value`},
		`instance=~"node[0-9]+:9100"`: {Name: "instance", Value: "node[0-9]+:9100", Regex: true, Equal: true},
	} {
		got, err := ParseMatcher(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
		again, err := ParseMatcher(got.String())
		require.NoError(t, err)
		require.Equal(t, got, again, "String reads back")
	}
	for _, bad := range []string{``, `cluster`, `1x="a"`, `a=="b"`, `a="unterminated`, `a=two words`, `a=""`} {
		_, err := ParseMatcher(bad)
		require.Error(t, err, bad)
	}
}
