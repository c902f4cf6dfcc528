package activities

import (
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/osflow/osflow/config"
)

// secret reads a token when it is needed, from the file or environment
// variable the configuration names, so it never enters workflow data.
func secret(env, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read token file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
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
// configuration names (each ...Env variable and ...File content of a
// token, key or password) with "[redacted]". Output that leaves the
// worker (task and suite output, ticket bodies, errors in history) goes
// through it: a whitelisted environment keeps tokens from child
// processes, but not a program that prints one it read elsewhere.
func redactor(cfg *config.Config) func(string) string {
	var secrets []string
	for _, ref := range secretRefs(reflect.ValueOf(cfg).Elem()) {
		var v string
		if ref.file {
			b, err := os.ReadFile(ref.name)
			if err != nil {
				continue
			}
			v = strings.TrimSpace(string(b))
		} else {
			v = os.Getenv(ref.name)
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

type secretRef struct {
	name string
	file bool
}

// secretRefs walks the configuration for fields that name a secret: yaml
// keys ending in Env or File, except files that only hold public data
// (certificates, CAs, GPG public keys).
func secretRefs(v reflect.Value) []secretRef {
	var out []secretRef
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			out = append(out, secretRefs(v.Elem())...)
		}
	case reflect.Slice:
		for i := range v.Len() {
			out = append(out, secretRefs(v.Index(i))...)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f, tag := v.Field(i), strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0]
			switch {
			case f.Kind() == reflect.String && f.String() != "" && strings.HasSuffix(tag, "Env"):
				out = append(out, secretRef{name: f.String()})
			case f.Kind() == reflect.String && f.String() != "" && strings.HasSuffix(tag, "File") && !publicFile(tag):
				out = append(out, secretRef{name: f.String(), file: true})
			default:
				out = append(out, secretRefs(f)...)
			}
		}
	}
	return out
}

// publicFile says whether a file key's content is no secret.
func publicFile(tag string) bool { return tag == "certFile" || tag == "caFile" }
