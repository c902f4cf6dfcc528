package upstream

import (
	"context"
	"fmt"
	"os/exec"
)

// SignRPM signs RPM files in place with the signer's key, with rpmsign, as
// a vendor signs its packages.
func (s *Signer) SignRPM(ctx context.Context, files ...string) error {
	args := append([]string{"--define", "__gpg /usr/bin/gpg", "--define", "_gpg_name " + s.KeyID, "--addsign"}, files...)
	cmd := exec.CommandContext(ctx, "rpmsign", args...)
	cmd.Env = append(cmd.Environ(), "GNUPGHOME="+s.Home)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("rpmsign: %w: %s", err, out)
	}
	return nil
}
