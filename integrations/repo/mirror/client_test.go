package mirror

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/osflow/osflow/integrations/repo"
)

// pki is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate (an entitlement certificate, as the Red Hat CDN
// wants), written as PEM files.
type pki struct {
	Pool                          *x509.CertPool
	Server                        tls.Certificate
	CAFile, ClientCert, ClientKey string
	KeyPEM                        string // the client key, to check it never shows
}

func newPKI(t *testing.T) *pki {
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CDN CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		return der, key
	}
	p := &pki{Pool: x509.NewCertPool()}
	p.Pool.AddCert(ca)
	srvDER, srvKey := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	p.Server = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
	cliDER, cliKey := issue(3, "entitlement", x509.ExtKeyUsageClientAuth)
	keyDER, err := x509.MarshalPKCS8PrivateKey(cliKey)
	require.NoError(t, err)
	write := func(name, typ string, der []byte, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode))
		return path
	}
	p.CAFile = write("redhat-uep.pem", "CERTIFICATE", caDER, 0o644)
	p.ClientCert = write("1234.pem", "CERTIFICATE", cliDER, 0o644)
	p.ClientKey = write("1234-key.pem", "PRIVATE KEY", keyDER, 0o600)
	p.KeyPEM = strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	return p
}

// tlsUpstream serves u's tree over TLS, requiring a client certificate
// that p's CA issued; it counts the requests that got through.
func tlsUpstream(t *testing.T, u *upstream, p *pki) (*httptest.Server, *atomic.Int32) {
	var served atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		http.FileServer(http.Dir(u.Dir)).ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.Server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.Pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &served
}

// observed makes m log into a buffer that the test reads.
func observed(m *Mirror) *observer.ObservedLogs {
	core, logs := observer.New(zap.DebugLevel)
	m.Logger = zap.New(core)
	return logs
}

// requireNotLogged fails if any log entry's message or fields hold secret.
func requireNotLogged(t *testing.T, logs *observer.ObservedLogs, secret string) {
	t.Helper()
	for _, e := range logs.All() {
		require.NotContains(t, e.Message, secret)
		for k, v := range e.ContextMap() {
			require.NotContains(t, k+"="+toString(v), secret)
		}
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}

// TestSyncWithClientCertificate: a server that requires a client
// certificate (the Red Hat CDN with an entitlement certificate) is
// mirrored with the repo's tls files, and refused clearly, not retried,
// without them. The key's content shows nowhere.
func TestSyncWithClientCertificate(t *testing.T) {
	p := newPKI(t)
	u := newUpstream(t, "alpha-1.0")
	srv, served := tlsUpstream(t, u, p)
	tests := []struct {
		name    string
		tls     TLSFiles
		mention string // "" when the sync works
	}{
		{name: "entitlement certificate, key and CDN CA", tls: TLSFiles{ClientCert: p.ClientCert, ClientKey: p.ClientKey, CACert: p.CAFile}},
		{name: "no client certificate", tls: TLSFiles{CACert: p.CAFile}, mention: "set the repo's tls.clientCert and tls.clientKey"},
		{name: "no CA for the server", tls: TLSFiles{ClientCert: p.ClientCert, ClientKey: p.ClientKey}, mention: "the repo's tls.caCert names the CA to trust"},
		{name: "key missing", tls: TLSFiles{ClientCert: p.ClientCert, ClientKey: p.ClientKey + ".gone", CACert: p.CAFile}, mention: "1234-key.pem"},
		{name: "certificate as key", tls: TLSFiles{ClientCert: p.ClientCert, ClientKey: p.ClientCert, CACert: p.CAFile}, mention: "client certificate " + p.ClientCert + " with key " + p.ClientCert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			served.Store(0)
			m, st := newTestMirror(t)
			logs := observed(m)
			res, err := m.Sync(t.Context(), Source{Repo: testRepo, URL: srv.URL + "/", TLS: tt.tls}, nil)
			requireNotLogged(t, logs, p.KeyPEM)
			if tt.mention == "" {
				require.NoError(t, err)
				require.Equal(t, 1, res.Snapshot.Packages)
				require.Equal(t, srv.URL+"/", res.Snapshot.Source)
				require.Positive(t, served.Load())
				return
			}
			require.ErrorIs(t, err, repo.ErrInvalid)
			require.False(t, IsRetryable(err))
			require.ErrorContains(t, err, tt.mention)
			require.NotContains(t, err.Error(), p.KeyPEM)
			require.Zero(t, served.Load(), "a request got through")
			requireNoSnapshot(t, st)
		})
	}
}

// forwardProxy is an HTTP forward proxy that wants Basic credentials
// user:pass; it counts the requests it forwarded and the CONNECT tunnels
// it opened.
type forwardProxy struct {
	*httptest.Server
	Forwarded, Tunnels atomic.Int32
}

func newForwardProxy(t *testing.T, user, pass string) *forwardProxy {
	p := &forwardProxy{}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != want {
			w.Header().Set("Proxy-Authenticate", `Basic realm="proxy"`)
			http.Error(w, "proxy credentials wanted", http.StatusProxyAuthRequired)
			return
		}
		if r.Method == http.MethodConnect {
			p.Tunnels.Add(1)
			tunnel(t, w, r.Host)
			return
		}
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		p.Forwarded.Add(1)
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.Header.Del("Proxy-Authorization")
		resp, err := tr.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(p.Close)
	return p
}

// tunnel joins the client's connection to host, both ways.
func tunnel(t *testing.T, w http.ResponseWriter, host string) {
	up, err := net.Dial("tcp", host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn, buf, err := http.NewResponseController(w).Hijack()
	require.NoError(t, err)
	conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	done := make(chan struct{})
	go func() { io.Copy(up, buf); up.(*net.TCPConn).CloseWrite(); close(done) }()
	io.Copy(conn, up)
	<-done
	conn.Close()
	up.Close()
}

// proxyURL is p's URL with credentials.
func (p *forwardProxy) url(user, pass string) string {
	return strings.Replace(p.URL, "http://", "http://"+user+":"+pass+"@", 1)
}

// TestSyncThroughProxy: a repo with a proxy sends every request through
// it, over http and, tunnelled, over https with a client certificate; the
// proxy's password shows in no error and no log line.
func TestSyncThroughProxy(t *testing.T) {
	const user, pass = "mirror", "pr0xy-s3cret"
	u := newUpstream(t, "alpha-1.0")
	p := newForwardProxy(t, user, pass)

	t.Run("http", func(t *testing.T) {
		m, _ := newTestMirror(t)
		logs := observed(m)
		res, err := m.Sync(t.Context(), Source{Repo: testRepo, URL: u.URL(), Proxy: p.url(user, pass)}, nil)
		require.NoError(t, err)
		require.Equal(t, 1, res.Snapshot.Packages)
		reqs := u.requests()
		require.NotEmpty(t, reqs)
		require.Equal(t, int32(len(reqs)), p.Forwarded.Load(), "requests that bypassed the proxy")
		requireNotLogged(t, logs, pass)
		require.NotEmpty(t, logs.FilterField(zap.String("proxy", "http://mirror:xxxxx@"+strings.TrimPrefix(p.URL, "http://"))).All())
	})

	t.Run("https with a client certificate", func(t *testing.T) {
		pk := newPKI(t)
		srv, served := tlsUpstream(t, u, pk)
		m, _ := newTestMirror(t)
		tunnels := p.Tunnels.Load()
		res, err := m.Sync(t.Context(), Source{Repo: testRepo, URL: srv.URL + "/", Proxy: p.url(user, pass),
			TLS: TLSFiles{ClientCert: pk.ClientCert, ClientKey: pk.ClientKey, CACert: pk.CAFile}}, nil)
		require.NoError(t, err)
		require.Equal(t, 1, res.Snapshot.Packages)
		require.Positive(t, served.Load())
		require.Greater(t, p.Tunnels.Load(), tunnels)
	})

	t.Run("wrong credentials over https", func(t *testing.T) {
		pk := newPKI(t)
		srv, served := tlsUpstream(t, u, pk)
		m, st := newTestMirror(t)
		_, err := m.Sync(t.Context(), Source{Repo: testRepo, URL: srv.URL + "/", Proxy: p.url(user, "wr0ng-s3cret"),
			TLS: TLSFiles{ClientCert: pk.ClientCert, ClientKey: pk.ClientKey, CACert: pk.CAFile}}, nil)
		require.ErrorIs(t, err, repo.ErrInvalid)
		require.False(t, IsRetryable(err))
		require.ErrorContains(t, err, "the proxy wants other credentials")
		require.NotContains(t, err.Error(), "wr0ng-s3cret")
		require.Zero(t, served.Load())
		requireNoSnapshot(t, st)
	})

	t.Run("wrong credentials", func(t *testing.T) {
		m, st := newTestMirror(t)
		logs := observed(m)
		forwarded := p.Forwarded.Load()
		_, err := m.Sync(t.Context(), Source{Repo: testRepo, URL: u.URL(), Proxy: p.url(user, "wr0ng-s3cret")}, nil)
		require.ErrorIs(t, err, repo.ErrInvalid)
		require.False(t, IsRetryable(err))
		require.ErrorContains(t, err, "407 Proxy Authentication Required")
		require.NotContains(t, err.Error(), "wr0ng-s3cret")
		requireNotLogged(t, logs, "wr0ng-s3cret")
		require.Equal(t, forwarded, p.Forwarded.Load())
		requireNoSnapshot(t, st)
	})
}

func TestParseProxy(t *testing.T) {
	tests := []struct{ raw, err string }{
		{raw: "http://proxy.example:3128"},
		{raw: "https://u:p@proxy.example:3128/"},
		{raw: "socks5://proxy.example:1080", err: "scheme must be http or https"},
		{raw: "http://u:s3cret@proxy.example:3128/path", err: "no path, query or fragment"},
		{raw: "http://u:s3cret@/", err: "has no host"},
		{raw: "http://u:s3 cret/@proxy.example:3128", err: "is not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			_, err := ParseProxy(tt.raw)
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, repo.ErrInvalid)
			require.ErrorContains(t, err, tt.err)
			require.NotContains(t, err.Error(), "s3")
		})
	}
}
