package activities

import (
	"bytes"
	"fmt"
	"os"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// checkDetached verifies a detached OpenPGP signature (a vendor's .asc
// next to the file) of file by a key of keyring. RPM header signatures
// are checked by repo.CheckRPMSignature, with the real rpmkeys.
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
