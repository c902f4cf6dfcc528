// Package config loads osflow.yaml: one strictly decoded YAML file.
//
// Strict means that an unknown key, a value of the wrong type, a bad URL,
// duration, cron expression or time zone, a missing required field or a
// duplicate repo name is an error that names the file, the line and the key
// path, for example
//
//	osflow.yaml:12: repos[1].url: scheme "ftp" is not supported (http, https or file)
//
// Sequence indexes in key paths count from 0. Every problem found is
// reported, joined with errors.Join; each one is a *FieldError.
//
// Secrets never appear in the file: a field ending in Env names an
// environment variable and one ending in File names a file that holds the
// secret.
//
// Relative paths (store, repos[].gpgKey, temporal.tls.*, dev.*) are resolved
// against the directory of the config file. When Parse is given a name with
// no directory, as for the embedded dev config, they are resolved against the
// current directory instead, so they stay relative to it.
package config

import (
	"fmt"
	"os"
	"strings"
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
	Dev      Dev      `yaml:"dev"`
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
	APIKeyEnv  string `yaml:"apiKeyEnv"`  // default "TEMPORAL_API_KEY"
	APIKeyFile string `yaml:"apiKeyFile"` // when set, wins over APIKeyEnv
}

// TLS configures the connection to Temporal. A client certificate needs both
// CertFile and KeyFile; CAFile alone only pins the server's CA.
type TLS struct {
	CertFile   string `yaml:"certFile"`
	KeyFile    string `yaml:"keyFile"`
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
	Concurrency      int      `yaml:"concurrency"`      // downloads at once, default 16, 1..256
	Timeout          Duration `yaml:"timeout"`          // per repo, default 2h
	HeartbeatTimeout Duration `yaml:"heartbeatTimeout"` // default 2m
	MaxAttempts      int      `yaml:"maxAttempts"`      // default 5
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
	// GPGKey is an OpenPGP public key file that signs repomd.xml.
	GPGKey string `yaml:"gpgKey"`
	// RequireSignature defaults to true when GPGKey is set: a missing or bad
	// repomd.xml.asc fails the sync. With GPGKey set and RequireSignature
	// false, a signature is verified when the upstream publishes one.
	RequireSignature *bool  `yaml:"requireSignature"`
	Description      string `yaml:"description"`
}

// GC bounds garbage collection of snapshots.
type GC struct {
	KeepSnapshots int      `yaml:"keepSnapshots"` // per repo, default 14
	MinAge        Duration `yaml:"minAge"`        // default 168h
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
	GRPCPort    int    `yaml:"grpcPort"` // default 7233
	UIPort      int    `yaml:"uiPort"`   // default 8233
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
	if t.APIKeyFile != "" {
		b, err := os.ReadFile(t.APIKeyFile)
		if err != nil {
			return "", fmt.Errorf("temporal API key: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if t.APIKeyEnv == "" {
		return "", nil
	}
	return os.Getenv(t.APIKeyEnv), nil
}

// Duration is a time.Duration written in YAML as "90s" or "2h30m".
type Duration struct{ time.Duration }
