package approvalsig

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// NewNonce is a random nonce for a statement.
func NewNonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return hex.EncodeToString(b)
}

// Sign signs text with the private key in keyFile by running
// `ssh-keygen -Y sign -f keyFile -n osflow-approval`, as an operator would
// by hand, and returns the armored signature.
func Sign(ctx context.Context, keyFile, text string) (string, error) {
	dir, err := os.MkdirTemp("", "osflow-sign-")
	if err != nil {
		return "", fmt.Errorf("sign the statement: %w", err)
	}
	defer os.RemoveAll(dir)
	msg := filepath.Join(dir, "statement")
	if err := os.WriteFile(msg, []byte(text), 0o600); err != nil {
		return "", fmt.Errorf("sign the statement: %w", err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ssh-keygen", "-Y", "sign", "-q", "-f", keyFile, "-n", Namespace, msg)
	cmd.Stderr = &stderr
	cmd.Stdin = os.Stdin // a passphrase prompt goes to the terminal
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("sign the statement with %s (ssh-keygen -Y sign): %w: %s", keyFile, err, strings.TrimSpace(stderr.String()))
	}
	sig, err := os.ReadFile(msg + ".sig")
	if err != nil {
		return "", fmt.Errorf("sign the statement: %w", err)
	}
	return string(sig), nil
}
