package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// writeKeyPair writes a self-signed certificate and its key into dir as
// name.pem and name-key.pem, and returns the key's PEM.
func writeKeyPair(t *testing.T, dir, name string) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+"-key.pem"), keyPEM, 0o600))
	return string(keyPEM)
}

// TestRepoNetwork: tls, proxy, mirrorlist and metalink as a Red Hat CDN,
// Rocky and EPEL site writes them; relative files resolve against the
// config's directory.
func TestRepoNetwork(t *testing.T) {
	clearTemporalEnv(t)
	dir := t.TempDir()
	writeKeyPair(t, dir, "1234")
	writeKeyPair(t, dir, "ca")
	path := filepath.Join(dir, "osflow.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`store: s
repos:
  - name: rhel-9-baseos
    url: https://cdn.redhat.com/content/dist/rhel9/9/x86_64/baseos/os/
    tls:
      clientCert: 1234.pem
      clientKey: 1234-key.pem
      caCert: ca.pem
    proxy: 'http://osflow:pr0xy@proxy.example:3128'
  - name: rocky-9-baseos
    mirrorlist: https://mirrors.rockylinux.org/mirrorlist?arch=x86_64&repo=BaseOS-9
  - name: epel-9
    url: https://mirror.example/epel/9/Everything/x86_64/
    metalink: https://mirrors.fedoraproject.org/metalink?repo=epel-9&arch=x86_64
`), 0o644))
	cfg, err := Load(path)
	require.NoError(t, err)
	rh := cfg.Repos[0]
	require.Equal(t, &RepoTLS{ClientCert: filepath.Join(dir, "1234.pem"), ClientKey: filepath.Join(dir, "1234-key.pem"), CACert: filepath.Join(dir, "ca.pem")}, rh.TLS)
	require.Equal(t, "http://osflow:pr0xy@proxy.example:3128", rh.Proxy)
	require.Equal(t, "https://mirrors.rockylinux.org/mirrorlist?arch=x86_64&repo=BaseOS-9", cfg.Repos[1].Mirrorlist)
	require.Empty(t, cfg.Repos[1].URL)
	require.Equal(t, "https://mirrors.fedoraproject.org/metalink?repo=epel-9&arch=x86_64", cfg.Repos[2].Metalink)
	require.Contains(t, cfg.Secrets(), SecretRef{Key: "repos[0].tls.clientKey", Name: filepath.Join(dir, "1234-key.pem"), File: true})
}

func TestRepoNetworkErrors(t *testing.T) {
	clearTemporalEnv(t)
	dir := t.TempDir()
	keyPEM := writeKeyPair(t, dir, "1234")
	writeKeyPair(t, dir, "other")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "empty.pem"), []byte("not PEM\n"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "keydir"), 0o755))
	const head = "store: s\nrepos:\n  - name: a\n"
	tests := []struct {
		name, repo string
		line       int
		path, msg  string
	}{
		{"no source", "    proxy: http://p:3128\n", 3, "repos[0].url", "required for a mirror, unless mirrorlist or metalink is set"},
		{"both lists", "    mirrorlist: https://m/l\n    metalink: https://m/k\n", 5, "repos[0].metalink", "mirrorlist and metalink are alternatives"},
		{"list scheme", "    metalink: ftp://m/k\n", 4, "repos[0].metalink", `"ftp://m/k": scheme must be http or https`},
		{"list user info", "    mirrorlist: 'https://me:s3cret@m/l'\n", 4, "repos[0].mirrorlist", "no user info in this URL"},
		{"dnf variable in list", "    metalink: 'https://m/metalink?repo=epel-$releasever'\n", 4, "repos[0].metalink", "does not expand dnf variables"},
		{"dnf variable in url", "    url: 'https://m/$basearch/'\n", 4, "repos[0].url", "does not expand dnf variables"},
		{"list of a file repo", "    url: file:///srv/r/\n    mirrorlist: https://m/l\n", 4, "repos[0].url", "a file URL is read from disk"},
		{"overlay proxy", "    overlay: true\n    proxy: http://p:3128\n", 5, "repos[0].proxy", "an overlay is read from disk: it has no proxy"},
		{"overlay metalink", "    overlay: true\n    metalink: https://m/k\n", 5, "repos[0].metalink", "it has no metalink"},
		{"tree from a metalink", "    kind: tree\n    metalink: https://m/k\n", 4, "repos[0].kind", "a distribution tree is read from its url"},
		{"proxy scheme", "    url: https://m/\n    proxy: 'socks5://u:s3cret@p:1080'\n", 5, "repos[0].proxy", `"socks5://***@p:1080": scheme must be http or https`},
		{"proxy path", "    url: https://m/\n    proxy: 'http://u:s3cret@p:3128/x'\n", 5, "repos[0].proxy", "with no path or query"},
		{"proxy unparsable password", "    url: https://m/\n    proxy: 'http://u:s3 cret/x@p:3128'\n", 5, "repos[0].proxy", `"http://***@p:3128" is not a URL`},
		{"empty tls", "    url: https://m/\n    tls: {}\n", 5, "repos[0].tls", "set clientCert and clientKey, caCert, or all three"},
		{"cert without key", "    url: https://m/\n    tls:\n      clientCert: 1234.pem\n", 5, "repos[0].tls", "clientCert and clientKey go together"},
		{"tls over http", "    url: http://m/\n    tls:\n      caCert: 1234.pem\n", 5, "repos[0].tls", "tls applies to https"},
		{"missing key", "    url: https://m/\n    tls:\n      clientCert: 1234.pem\n      clientKey: gone.pem\n", 7, "repos[0].tls.clientKey", "no such file"},
		{"key is a directory", "    url: https://m/\n    tls:\n      clientCert: 1234.pem\n      clientKey: keydir\n", 7, "repos[0].tls.clientKey", "a directory"},
		{"key of another cert", "    url: https://m/\n    tls:\n      clientCert: 1234.pem\n      clientKey: other-key.pem\n", 7, "repos[0].tls.clientKey", "private key does not match public key"},
		{"cert as key", "    url: https://m/\n    tls:\n      clientCert: 1234.pem\n      clientKey: 1234.pem\n", 7, "repos[0].tls.clientKey", "1234.pem"},
		{"CA not PEM", "    url: https://m/\n    tls:\n      caCert: empty.pem\n", 6, "repos[0].tls.caCert", "holds no PEM certificate"},
		{"unknown tls key", "    url: https://m/\n    tls:\n      clientKeyFile: k\n", 6, "repos[0].tls.clientKeyFile", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "osflow.yaml")
			require.NoError(t, os.WriteFile(path, []byte(head+tt.repo), 0o644))
			_, err := Load(path)
			require.Error(t, err)
			require.Contains(t, err.Error(), fmt.Sprintf("%s:%d: %s: ", path, tt.line, tt.path))
			require.Contains(t, err.Error(), tt.msg)
			require.NotContains(t, err.Error(), "s3cret")
			require.NotContains(t, err.Error(), "PRIVATE KEY")
			require.NotContains(t, err.Error(), keyPEM[40:80])
		})
	}
}
