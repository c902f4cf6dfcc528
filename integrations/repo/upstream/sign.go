package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// maxHomeLen keeps gpg-agent's socket path (GNUPGHOME/S.gpg-agent.browser)
// below the 108-byte limit of a Unix socket address.
const maxHomeLen = 80

// Signer is a throwaway OpenPGP key in its own GnuPG home, for signing
// repository metadata as an upstream does.
type Signer struct {
	Home      string // GNUPGHOME
	KeyID     string // fingerprint of the signing key, 40 hex digits
	PublicKey string // path of the armored public key, like an RPM-GPG-KEY file
	ownHome   bool   // Home is a temporary directory outside dir, removed by Close
}

// NewSigner makes a new key without passphrase in a GnuPG home under dir
// (or in a short temporary directory when dir is too deep for gpg-agent's
// socket) and exports its public key to dir/RPM-GPG-KEY-osflow-test.
// Call Close to stop the agent.
func NewSigner(ctx context.Context, dir string) (*Signer, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s := &Signer{Home: filepath.Join(dir, "gnupg"), PublicKey: filepath.Join(dir, "RPM-GPG-KEY-osflow-test")}
	if len(s.Home) > maxHomeLen {
		if s.Home, err = os.MkdirTemp("", "gpg"); err != nil {
			return nil, err
		}
		s.ownHome = true
	} else if err := os.MkdirAll(s.Home, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(s.Home, 0o700); err != nil {
		return nil, err
	}
	if err := s.gpg(ctx, "--quick-generate-key", "osflow test upstream <upstream@osflow.invalid>", "rsa2048", "sign", "never"); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	out, err := output(ctx, nil, "gpg", append(s.baseArgs(), "--with-colons", "--list-secret-keys")...)
	if err == nil {
		s.KeyID, err = fingerprint(out)
	}
	if err == nil {
		err = s.gpg(ctx, "--armor", "--output", s.PublicKey, "--yes", "--export", s.KeyID)
	}
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// SignRepomd writes repoDir/repodata/repomd.xml.asc, an armored detached
// signature of repomd.xml, as rpm-md repositories publish it.
func (s *Signer) SignRepomd(ctx context.Context, repoDir string) error {
	repomd := filepath.Join(repoDir, "repodata", "repomd.xml")
	tmp := repomd + ".asc.tmp"
	if err := s.gpg(ctx, "--yes", "--local-user", s.KeyID, "--armor", "--output", tmp, "--detach-sign", repomd); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, repomd+".asc")
}

// Close stops the GnuPG agent of this home and removes a home that NewSigner
// made outside dir.
func (s *Signer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, nil, "gpgconf", "--homedir", s.Home, "--kill", "all")
	if s.ownHome {
		err = errors.Join(err, os.RemoveAll(s.Home))
	}
	return err
}

func (s *Signer) baseArgs() []string {
	return []string{"--homedir", s.Home, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""}
}

func (s *Signer) gpg(ctx context.Context, args ...string) error {
	return run(ctx, nil, "gpg", append(s.baseArgs(), args...)...)
}

// fingerprint reads the first key's fingerprint from gpg --with-colons.
func fingerprint(colons []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(colons))
	for sc.Scan() {
		if f := strings.Split(sc.Text(), ":"); len(f) > 9 && f[0] == "fpr" {
			return f[9], nil
		}
	}
	return "", fmt.Errorf("gpg: no fingerprint in key listing")
}
