package testtool

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SSHKey makes an SSH key pair of type typ (ed25519, ecdsa, rsa) with
// ssh-keygen and returns its private key's file and the allowed_signers
// line naming name as its principal.
func SSHKey(t testing.TB, name, typ string) (file, signer string) {
	t.Helper()
	Need(t, "ssh-keygen")
	file = filepath.Join(t.TempDir(), "id_"+typ)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", typ, "-N", "", "-C", name+"@example", "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(file + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return file, name + " " + strings.TrimSpace(string(pub))
}
