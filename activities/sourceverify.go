package activities

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// rpmKeyring checks RPM header signatures with the real rpmkeys against
// one key file, imported into an rpmdb of its own in a temporary
// directory: never the host's rpmdb, whose keys say nothing about what
// this source may sign.
type rpmKeyring struct {
	key    string // the key file, for messages
	dbpath string
}

// newRPMKeyring imports key into a fresh rpmdb under dir. A key file
// rpmkeys cannot import is bad configuration.
func newRPMKeyring(ctx context.Context, dir, key string) (*rpmKeyring, error) {
	db, err := os.MkdirTemp(dir, "rpmdb-")
	if err != nil {
		return nil, err
	}
	k := &rpmKeyring{key: key, dbpath: db}
	if out, err := k.rpmkeys(ctx, "--import", key); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("gpg key %s: rpmkeys --import: %s: %w", key, out, repo.ErrInvalid)
	}
	return k, nil
}

// check passes only a package whose digests and signature rpmkeys
// verifies with the key: at _pkgverify_level signature, an unsigned
// package, one signed by another key and one whose content does not match
// its signed digests all fail.
func (k *rpmKeyring) check(ctx context.Context, file string) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	out, err := k.rpmkeys(ctx, "--define", "_pkgverify_level signature", "--checksig", abs)
	if err == nil && strings.Contains(out, "signatures OK") {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w: no valid signature by %s: rpmkeys --checksig: %s", repo.ErrBadContent, k.key,
		strings.TrimPrefix(out, abs+": "))
}

func (k *rpmKeyring) rpmkeys(ctx context.Context, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "rpmkeys", append([]string{"--dbpath", k.dbpath}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// checkDetached verifies a detached OpenPGP signature (a vendor's .asc
// next to the file) of file by a key of keyring.
func checkDetached(keyring openpgp.EntityList, key, file string, sig []byte) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := rpmmd.VerifySignature(keyring, f, bytes.NewReader(sig)); err != nil {
		return fmt.Errorf("%w: no valid detached signature by %s: %w", repo.ErrBadContent, key, err)
	}
	return nil
}
