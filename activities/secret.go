package activities

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/osflow/osflow/config"
)

// secret reads a token when it is needed, from the file or environment
// variable the configuration names, so it never enters workflow data.
func secret(env, file string) (string, error) {
	if file != "" {
		v, err := config.ReadSecretFile(file)
		if err != nil {
			return "", fmt.Errorf("read token file: %w", err)
		}
		return v, nil
	}
	if v := os.Getenv(env); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("no token: set $%s or a tokenFile", env)
}

// httpClient is the client integrations use: bounded, never http.DefaultClient.
func httpClient() *http.Client {
	return &http.Client{Timeout: 2 * time.Minute}
}

// minSecretLen keeps short values (an empty variable, "1") from being
// "redacted" all over a log.
const minSecretLen = 8

// redactor returns a function that replaces every secret the
// configuration declares (config.Config.Secrets: each token, key or
// password variable and file) with "[redacted]". Output that leaves the
// worker (task and suite output, ticket bodies, errors in history) goes
// through it: a whitelisted environment keeps tokens from child
// processes, but not a program that prints one it read elsewhere. A
// secret file that cannot be read, or is not a regular file, holds no
// secret to redact: the integration that needs it reports that.
func redactor(cfg *config.Config) func(string) string {
	var secrets []string
	for _, ref := range cfg.Secrets() {
		var v string
		if ref.File {
			var err error
			if v, err = config.ReadSecretFile(ref.Name); err != nil {
				continue
			}
		} else {
			v = os.Getenv(ref.Name)
		}
		if len(v) >= minSecretLen {
			secrets = append(secrets, v)
		}
	}
	if len(secrets) == 0 {
		return func(s string) string { return s }
	}
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, "[redacted]")
	}
	r := strings.NewReplacer(pairs...)
	return r.Replace
}
