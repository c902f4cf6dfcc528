package rpmmd

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// gpgHome is a throw-away gpg home with one signing key, made by real gpg.
type gpgHome struct {
	t   *testing.T
	dir string
}

func newGPGHome(t *testing.T, algo string) gpgHome {
	t.Helper()
	needTools(t, "gpg", "gpgconf")
	// gpg-agent's socket path must stay short, so not under t.TempDir's
	// long test-named path.
	dir, err := os.MkdirTemp("", "gpg")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o700))
	g := gpgHome{t: t, dir: dir}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", dir, "--kill", "gpg-agent").Run()
		_ = os.RemoveAll(dir)
	})
	g.gpg(nil, "--quick-gen-key", "Test "+algo+" <t@example.org>", algo, "sign", "never")
	return g
}

func (g gpgHome) gpg(stdin []byte, args ...string) []byte {
	g.t.Helper()
	cmd := exec.Command("gpg", append([]string{"--batch", "--homedir", g.dir,
		"--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(g.t, err, "gpg %s: %s", strings.Join(args, " "), stderr.String())
	return out
}

func (g gpgHome) publicKey(armor bool) []byte {
	if armor {
		return g.gpg(nil, "--armor", "--export")
	}
	return g.gpg(nil, "--export")
}

func (g gpgHome) sign(data []byte, armor bool) []byte {
	args := []string{"--detach-sign", "--output", "-"}
	if armor {
		args = append(args, "--armor")
	}
	return g.gpg(data, args...)
}

func TestVerifySignature(t *testing.T) {
	signer := newGPGHome(t, "ed25519")
	other := newGPGHome(t, "rsa2048")
	repomd := []byte(repomdDoc(dataElem("primary", "repodata/p.xml.gz", "sha256", sha256Zero)))
	tampered := bytes.Replace(repomd, []byte("p.xml.gz"), []byte("q.xml.gz"), 1)

	keyring := func(keys ...[]byte) []byte { return bytes.Join(keys, []byte("\n")) }
	for _, tc := range []struct {
		name    string
		keyring []byte
		signed  []byte
		sig     []byte
		ok      bool
	}{
		{"armored key and signature", signer.publicKey(true), repomd, signer.sign(repomd, true), true},
		{"binary key and signature", signer.publicKey(false), repomd, signer.sign(repomd, false), true},
		{"signer's key second in a multi-block file", keyring(other.publicKey(true), signer.publicKey(true)), repomd, signer.sign(repomd, true), true},
		{"rsa key", other.publicKey(true), repomd, other.sign(repomd, true), true},
		{"tampered content", signer.publicKey(true), tampered, signer.sign(repomd, true), false},
		{"signed by another key", signer.publicKey(true), repomd, other.sign(repomd, true), false},
		{"empty signature", signer.publicKey(true), repomd, nil, false},
		{"garbage signature", signer.publicKey(true), repomd, []byte("-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n"), false},
		{"signature of the signature", signer.publicKey(true), repomd, signer.sign(signer.sign(repomd, false), false), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ReadKeyring(bytes.NewReader(tc.keyring))
			require.NoError(t, err)
			err = VerifySignature(keys, bytes.NewReader(tc.signed), bytes.NewReader(tc.sig))
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrSignature)
		})
	}

	t.Run("multi-block keyring holds both keys", func(t *testing.T) {
		keys, err := ReadKeyring(bytes.NewReader(keyring(other.publicKey(true), signer.publicKey(true))))
		require.NoError(t, err)
		require.Len(t, keys, 2)
	})
	t.Run("empty keyring", func(t *testing.T) {
		err := VerifySignature(nil, bytes.NewReader(repomd), bytes.NewReader(signer.sign(repomd, true)))
		require.ErrorIs(t, err, ErrSignature)
	})
}

func TestReadKeyringErrors(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"empty", ""},
		{"not a key", "hello"},
		{"armored garbage", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadKeyring(strings.NewReader(tc.data))
			require.Error(t, err)
		})
	}
}
