// Package config loads osflow.yaml: one strictly decoded YAML file.
//
// Strict means that an unknown key, a key given twice, a value of the wrong
// type, a bad URL, duration, cron expression or time zone, a missing required
// field or a duplicate name is an error that names the file, the line and the key
// path, for example
//
//	osflow.yaml:12: repos[1].url: scheme "ftp" is not supported (http, https or file)
//
// Sequence indexes in key paths count from 0. An empty list or mapping is
// the same as leaving the key out. Every problem found is
// reported, joined with errors.Join; each one is a *FieldError.
//
// Secrets never appear in the file: a field ending in Env names an
// environment variable and one ending in File names a file that holds the
// secret.
//
// Relative paths (store, repos[].gpgKey, repos[].sources[].gpgKey,
// temporal.tls.*, temporal.apiKeyFile,
// testing.suites[].dir, every tokenFile, tickets.dir, local git and wiki
// URLs, dev.*) are made absolute against the directory of the config file,
// or against the current directory when Parse is given a name with no
// directory, as for the embedded dev config. Absolute, because workers and
// the git commands they run work in other directories.
package config

import (
	"fmt"
	"os"
	"time"

	// Time zones must load on minimal hosts without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Config is the whole of osflow.yaml.
type Config struct {
	Path     string   `yaml:"-"`     // file loaded from (or the name passed to Parse)
	Store    string   `yaml:"store"` // required; path of the store root
	Temporal Temporal `yaml:"temporal"`
	HTTP     HTTP     `yaml:"http"`
	Metrics  Metrics  `yaml:"metrics"`
	Log      Log      `yaml:"log"`
	Schedule Schedule `yaml:"schedule"`
	Sync     Sync     `yaml:"sync"`
	Channels Channels `yaml:"channels"`
	Repos    []Repo   `yaml:"repos"` // required, at least one
	GC       GC       `yaml:"gc"`
	Testing  Testing  `yaml:"testing"`
	Tickets  Tickets  `yaml:"tickets"`
	Outage   Outage   `yaml:"outage"`
	Git      Git      `yaml:"git"`
	Wiki     Wiki     `yaml:"wiki"`
	Dev      Dev      `yaml:"dev"`

	// The systems a production outage touches (outage.go).
	Notify     Notify     `yaml:"notify"`
	Monitoring Monitoring `yaml:"monitoring"`
	Backup     Backup     `yaml:"backup"`
	Production Production `yaml:"production"`
}

// Temporal says how to reach the Temporal cluster.
type Temporal struct {
	Address       string `yaml:"address"`       // default "127.0.0.1:7233"; env TEMPORAL_ADDRESS overrides
	Namespace     string `yaml:"namespace"`     // default "default"; env TEMPORAL_NAMESPACE overrides
	TaskQueue     string `yaml:"taskQueue"`     // default "osflow"
	RepoTaskQueue string `yaml:"repoTaskQueue"` // default "osflow-repo"
	// TLS is nil for a plain connection. The environment variables
	// TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_CA and
	// TEMPORAL_TLS_SERVER_NAME fill (and override) it.
	TLS        *TLS   `yaml:"tls,omitempty"`
	APIKeyEnv  string `yaml:"apiKeyEnv" secret:"env"`   // default "TEMPORAL_API_KEY"
	APIKeyFile string `yaml:"apiKeyFile" secret:"file"` // when set, wins over APIKeyEnv
}

// TLS configures the connection to Temporal. A client certificate needs both
// CertFile and KeyFile; CAFile alone only pins the server's CA.
type TLS struct {
	CertFile   string `yaml:"certFile"`
	KeyFile    string `yaml:"keyFile" secret:"file"` // the private key
	CAFile     string `yaml:"caFile"`
	ServerName string `yaml:"serverName"`
}

// HTTP is the repository server of osflow dev, and the base of the URLs
// clients are given.
type HTTP struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:8080
	// BaseURL is where clients find BASEURL/<channel>/<repo>/; default
	// http://<listen>/. Always absolute http(s) and ending with "/".
	BaseURL string `yaml:"baseURL"`
}

// Metrics is the Prometheus endpoint.
type Metrics struct {
	Listen string `yaml:"listen"` // "" disables
}

// Log configures the process log.
type Log struct {
	Format string `yaml:"format"` // json (default) | console
	Level  string `yaml:"level"`  // debug | info (default) | warn | error
}

// Schedule is the calendar of the daily sync.
type Schedule struct {
	Cron     []string `yaml:"cron"`     // default ["0 3 * * *"]; five fields each
	TimeZone string   `yaml:"timeZone"` // default UTC
	Jitter   Duration `yaml:"jitter"`
	Paused   bool     `yaml:"paused"`
}

// Sync bounds the mirror sync.
type Sync struct {
	Concurrency      int      `yaml:"concurrency"`      // downloads at once per repo, default 16, 1..256
	Timeout          Duration `yaml:"timeout"`          // per repo, default 2h
	HeartbeatTimeout Duration `yaml:"heartbeatTimeout"` // default 2m
	MaxAttempts      int      `yaml:"maxAttempts"`      // default 25, at least 1; sync.timeout bounds the attempts too
	// MaxDownloads bounds the downloads at once across all repos a worker
	// syncs together, so that many repos do not open concurrency
	// connections each to one mirror host. Default 32, 1..1024.
	MaxDownloads int `yaml:"maxDownloads"`
	// MinSpeed cuts off a transfer slower than this over its window, and
	// bounds each file's transfer time by its size. Default "10KiB/s over 1m".
	MinSpeed Speed `yaml:"minSpeed"`
	// LinkLimit is the most hardlinks one snapshot adds to one pool file;
	// past it the snapshot links a copy of its own. Default 32000 (half
	// ext4's limit per file), 2..60000.
	LinkLimit int `yaml:"linkLimit"`
}

// Speed is a transfer rate over a window, written "10KiB/s over 1m" (units
// B, KiB, MiB, GiB; the window a duration).
type Speed struct {
	BytesPerSecond int64
	Window         time.Duration
}

// Channels names the three channels.
type Channels struct {
	Daily      string `yaml:"daily"`      // default "daily"
	Testing    string `yaml:"testing"`    // default "testing"
	Production string `yaml:"production"` // default "production"
}

// Repo is one configured package repository: an upstream mirror or the
// overlay.
type Repo struct {
	Name string `yaml:"name"` // required, unique
	// URL is the upstream (http, https or file), ending with "/". Empty for
	// an overlay.
	URL string `yaml:"url"`
	// Overlay marks the site overlay kept in STORE/overlays/<name>.
	Overlay bool `yaml:"overlay"`
	// Kind is what the URL holds: "rpm-md" (the default), a repository
	// with repodata/; "tree", a distribution tree with a .treeinfo, its
	// boot images and variant repositories; "auto", a tree when the URL
	// has a .treeinfo, else a repository.
	Kind string `yaml:"kind"`
	// GPGKey is an OpenPGP public key file that signs repomd.xml; for an
	// overlay, the key its RPMs must be signed with.
	GPGKey string `yaml:"gpgKey"`
	// RequireSignature defaults to true when GPGKey is set: a missing or bad
	// repomd.xml.asc fails the sync (for an overlay: an unsigned or wrongly
	// signed RPM is refused by a bypass). With GPGKey set and
	// RequireSignature false, a signature is verified when there is one.
	RequireSignature *bool  `yaml:"requireSignature"`
	Description      string `yaml:"description"`
	// AllowRedirectHosts lists the hosts ("host" or "host:port") besides
	// the repo's own that an HTTP redirect may lead to: mirrors and CDNs
	// the site trusts. Other redirects fail the sync.
	AllowRedirectHosts []string `yaml:"allowRedirectHosts"`
	// MaxAge refuses upstream metadata whose newest timestamp is older
	// than this (a frozen mirror), like apt's Valid-Until. 0 (the
	// default): no limit.
	MaxAge Duration `yaml:"maxAge"`
	// Mirrorlist is a URL listing the repo's mirrors (base URLs, one a
	// line), tried in order after URL when that is set too.
	Mirrorlist string `yaml:"mirrorlist"`
	// Metalink is a MirrorManager metalink URL (Fedora, EPEL, Rocky): its
	// mirrors are tried by preference, and a mirror's repomd.xml must be
	// the one the metalink describes. An alternative to Mirrorlist.
	Metalink string `yaml:"metalink"`
	// TLS is the repo's client certificate (a Red Hat entitlement
	// certificate) and the CA its server's certificate must chain to.
	TLS *RepoTLS `yaml:"tls"`
	// Proxy is an http or https forward proxy every request of the repo
	// goes through. Its password, if it has one, is never shown.
	Proxy string `yaml:"proxy"`
	// Required makes a failed sync of this repo fail the whole daily sync,
	// moving no channel. By default a repo that cannot sync keeps its last
	// good snapshot in the new release, marked stale, and the others move on.
	Required bool `yaml:"required"`
	// Bypass is an overlay's emergency-bypass policy; a bypass of an
	// overlay without one is refused.
	Bypass *Bypass `yaml:"bypass"`
	// Sources are vendor downloads an overlay watches (sources.go).
	Sources []Source `yaml:"sources"`
	// Watch is when the sources are checked: five-field cron expressions;
	// default every 30 minutes.
	Watch []string `yaml:"watch"`
	// WatchTimeZone is Watch's time zone; default schedule.timeZone.
	WatchTimeZone string `yaml:"watchTimeZone"`
}

// RepoTLS are the PEM files of a repo's TLS client identity and trust,
// read at every sync.
type RepoTLS struct {
	ClientCert string `yaml:"clientCert"`              // with ClientKey
	ClientKey  string `yaml:"clientKey" secret:"file"` // the private key
	CACert     string `yaml:"caCert"`                  // replaces the system's CAs for the repo
}

// Bypass is what an emergency bypass of an overlay may do.
type Bypass struct {
	// Allow lists the package names (shell patterns, "openssl*") a bypass
	// may add to the overlay. Required.
	Allow []string `yaml:"allow"`
	// RequireApproval makes a bypass wait for approve-outage by one of
	// production.approvers.
	RequireApproval bool `yaml:"requireApproval"`
}

// GC bounds garbage collection of snapshots.
type GC struct {
	KeepSnapshots int      `yaml:"keepSnapshots"` // per repo, default 14
	MinAge        Duration `yaml:"minAge"`        // default 168h
}

// Testing is the integration-test cycle: the suites run against a release
// in the testing channel, and the gate it must pass to be promoted.
type Testing struct {
	Suites []Suite `yaml:"suites"`
	Gate   Gate    `yaml:"gate"`
	// CloseOnPass closes a ticket when its case passes again. Default true.
	CloseOnPass *bool `yaml:"closeOnPass"`
	// RoundInterval re-tests the current release this often even without a
	// new release. Default 24h, at least 1m; an explicit 0 is an error.
	RoundInterval Duration `yaml:"roundInterval"`
	// Inventory lists facts of the test cluster, compared by name with
	// production.inventory in the risk report.
	Inventory []InventoryItem `yaml:"inventory"`
	// AllowEmptyGate lets the gate pass with no test suite configured: a
	// release that nothing tested reaches production. Default false.
	AllowEmptyGate bool `yaml:"allowEmptyGate"`
}

// Suite is one test suite. Exactly one of Builtin, Command and Jenkins is
// set.
type Suite struct {
	Name    string `yaml:"name"`    // required, unique
	Builtin string `yaml:"builtin"` // "repoclosure" or "install"
	// Sets is set name -> packages, required for builtin install and only
	// for it: each set is installed together on a clean host.
	Sets    map[string][]string `yaml:"sets"`
	Command []string            `yaml:"command"` // argv of a command suite
	Dir     string              `yaml:"dir"`     // working directory of a command suite
	Jenkins *Jenkins            `yaml:"jenkins"`
	Timeout Duration            `yaml:"timeout"` // default 1h
}

// Jenkins is a suite run as a Jenkins job.
type Jenkins struct {
	URL string `yaml:"url"` // required, http(s), ends with "/"
	// Job is the job's full name: "name", or "folder/name" in a folder.
	Job       string            `yaml:"job"`
	User      string            `yaml:"user"`                    // required
	TokenEnv  string            `yaml:"tokenEnv" secret:"env"`   // default "JENKINS_TOKEN"
	TokenFile string            `yaml:"tokenFile" secret:"file"` // when set, wins over TokenEnv
	Params    map[string]string `yaml:"params"`                  // build parameters
}

// Gate is what a release in testing must pass to be promoted.
type Gate struct {
	CleanRounds  int      `yaml:"cleanRounds"`  // consecutive rounds that file no new ticket; default 2
	BlockerLabel string   `yaml:"blockerLabel"` // no open ticket may carry it; default "blocker"
	MinSoak      Duration `yaml:"minSoak"`      // minimum time the release spent in testing; default 0
	// PassingRounds makes a clean round one in which no case failed at
	// all, not only one that filed no new ticket. Default false.
	PassingRounds bool `yaml:"passingRounds"`
}

// Tickets is where failures are filed: a GitHub repository's issues when
// GitHub is set, else one file a ticket under Dir.
type Tickets struct {
	// Dir is the file tracker's directory; default "tickets" next to the
	// store directory. Not used with GitHub.
	Dir    string         `yaml:"dir"`
	GitHub *GitHubTickets `yaml:"github"`
	Labels []string       `yaml:"labels"` // extra labels on every filed ticket
}

// GitHubTickets files tickets as GitHub issues.
type GitHubTickets struct {
	Repo string `yaml:"repo"` // required, "owner/name"
	// BaseURL is the REST API: "" for api.github.com, https://HOST/api/v3/
	// for GitHub Enterprise. Ends with "/" when set.
	BaseURL   string `yaml:"baseURL"`
	TokenEnv  string `yaml:"tokenEnv" secret:"env"`   // default "GITHUB_TOKEN"
	TokenFile string `yaml:"tokenFile" secret:"file"` // when set, wins over TokenEnv
	Label     string `yaml:"label"`                   // marks the issues osflow manages; default "osflow"
}

// Outage is the plan of a maintenance outage: the tasks, in order.
type Outage struct {
	Tasks []Task `yaml:"tasks"`
}

// Task is one step of the outage: a command osflow runs, or a manual step
// that an operator reports done with `osflow task-done`.
type Task struct {
	Name     string   `yaml:"name"`     // required, unique
	Command  []string `yaml:"command"`  // argv; exactly one of Command and Manual
	Manual   bool     `yaml:"manual"`   // an operator does it and reports with osflow task-done
	Expected Duration `yaml:"expected"` // required: the planned duration
	Where    string   `yaml:"where"`    // free text: where it runs
	Timeout  Duration `yaml:"timeout"`  // command tasks only; default 4 * Expected
}

// Git names the repositories whose test branch is merged into the
// production branch when a release is promoted.
type Git struct {
	Config     []GitRepo `yaml:"config"`     // configuration management (Puppet, Ansible, Salt)
	Monitoring []GitRepo `yaml:"monitoring"` // monitoring configuration
}

// GitRepo is one git repository.
type GitRepo struct {
	Name string `yaml:"name"` // required, unique across config and monitoring
	// URL is ssh (git@host:path or ssh://), https or file, or a local path.
	URL              string `yaml:"url"`
	TestBranch       string `yaml:"testBranch"`       // default "test"
	ProductionBranch string `yaml:"productionBranch"` // default "production"
}

// Wiki is the git repository of a wiki (GitHub or Gitea layout) that release
// notes and outage reports are published to.
type Wiki struct {
	URL     string `yaml:"url"`     // git URL as in GitRepo; "" publishes nothing
	Branch  string `yaml:"branch"`  // default "master"
	PageURL string `yaml:"pageURL"` // base URL of the pages for links; ends with "/" when set
}

// Dev configures osflow dev.
type Dev struct {
	StateDir string `yaml:"stateDir"` // default ".osflow"
	// UpstreamSpecs is a directory of <repo>/*.spec built into a local
	// upstream on the first run.
	UpstreamSpecs  string `yaml:"upstreamSpecs"`
	UpstreamListen string `yaml:"upstreamListen"` // default 127.0.0.1:8091
	// TemporalCLI is the temporal binary: a path, or a bare command name
	// looked up in PATH. Default "bin/temporal".
	TemporalCLI string `yaml:"temporalCLI"`
	// The dev server's gRPC port is temporal.address's: one setting,
	// so every CLI command reaches the server osflow dev started.
	UIPort int `yaml:"uiPort"` // default 8233
	// GitDir is where osflow dev creates bare repos for the git and wiki
	// URLs of its config. Default STATEDIR/git.
	GitDir string `yaml:"gitDir"`
}

// Load reads and checks the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Repo returns the repo called name.
func (c *Config) Repo(name string) (Repo, bool) {
	for _, r := range c.Repos {
		if r.Name == name {
			return r, true
		}
	}
	return Repo{}, false
}

// Kinds of repo (Repo.Kind).
const (
	RepoKindRPMMD = "rpm-md"
	RepoKindTree  = "tree"
	RepoKindAuto  = "auto"
)

// RequiresSignature reports whether repomd.xml must carry a valid detached
// signature by GPGKey.
func (r Repo) RequiresSignature() bool {
	if r.RequireSignature != nil {
		return *r.RequireSignature
	}
	return r.GPGKey != ""
}

// APIKey returns the Temporal API key: the trimmed content of APIKeyFile when
// it is set, else the value of the environment variable APIKeyEnv, else "".
func (t Temporal) APIKey() (string, error) {
	return secret("temporal API key", t.APIKeyEnv, t.APIKeyFile)
}

// Token returns the Jenkins API token, from TokenFile or TokenEnv as
// Temporal.APIKey does.
func (j Jenkins) Token() (string, error) {
	return secret("jenkins token", j.TokenEnv, j.TokenFile)
}

// Token returns the GitHub token, from TokenFile or TokenEnv as
// Temporal.APIKey does.
func (g GitHubTickets) Token() (string, error) {
	return secret("github token", g.TokenEnv, g.TokenFile)
}

// ClosesOnPass reports whether a ticket is closed when its case passes again.
func (t Testing) ClosesOnPass() bool {
	return t.CloseOnPass == nil || *t.CloseOnPass
}

// Duration is a time.Duration written in YAML as "90s" or "2h30m".
type Duration struct{ time.Duration }
