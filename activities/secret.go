package activities

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
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
