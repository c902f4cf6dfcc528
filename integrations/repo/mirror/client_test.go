package mirror

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/internal/testtool"
)

// tlsUpstream serves u's tree over TLS, requiring a client certificate
// that p's CA issued; it counts the requests that got through.
func tlsUpstream(t *testing.T, u *upstream, p *testtool.PKI) (*httptest.Server, *atomic.Int32) {
	var served atomic.Int32
	srv := p.ServeTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		http.FileServer(http.Dir(u.Dir)).ServeHTTP(w, r)
	}))
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
	p := testtool.NewPKI(t)
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

// TestSyncThroughProxy: a repo with a proxy sends every request through
// it, over http and, tunnelled, over https with a client certificate; the
// proxy's password shows in no error and no log line.
func TestSyncThroughProxy(t *testing.T) {
	const user, pass = "mirror", "pr0xy-s3cret"
	u := newUpstream(t, "alpha-1.0")
	p := testtool.NewForwardProxy(t, user, pass)

	t.Run("http", func(t *testing.T) {
		m, _ := newTestMirror(t)
		logs := observed(m)
		res, err := m.Sync(t.Context(), Source{Repo: testRepo, URL: u.URL(), Proxy: p.URLWith(user, pass)}, nil)
		require.NoError(t, err)
		require.Equal(t, 1, res.Snapshot.Packages)
		reqs := u.requests()
		require.NotEmpty(t, reqs)
		require.Equal(t, int32(len(reqs)), p.Forwarded.Load(), "requests that bypassed the proxy")
		requireNotLogged(t, logs, pass)
		require.NotEmpty(t, logs.FilterField(zap.String("proxy", "http://mirror:xxxxx@"+strings.TrimPrefix(p.URL, "http://"))).All())
	})

	t.Run("a distribution tree", func(t *testing.T) {
		tree := newTreeUpstream(t)
		m, _ := newTestMirror(t)
		forwarded := p.Forwarded.Load()
		res, err := m.Sync(t.Context(), Source{Repo: testRepo, URL: tree.URL(), Kind: KindTree, Proxy: p.URLWith(user, pass)}, nil)
		require.NoError(t, err)
		require.NotNil(t, res.Snapshot.Tree)
		reqs := tree.requests()
		require.NotEmpty(t, reqs)
		require.Equal(t, int32(len(reqs)), p.Forwarded.Load()-forwarded, "a tree's requests, its variants' too, go through the repo's proxy")
	})

	t.Run("https with a client certificate", func(t *testing.T) {
		pk := testtool.NewPKI(t)
		srv, served := tlsUpstream(t, u, pk)
		m, _ := newTestMirror(t)
		tunnels := p.Tunnels.Load()
		res, err := m.Sync(t.Context(), Source{Repo: testRepo, URL: srv.URL + "/", Proxy: p.URLWith(user, pass),
			TLS: TLSFiles{ClientCert: pk.ClientCert, ClientKey: pk.ClientKey, CACert: pk.CAFile}}, nil)
		require.NoError(t, err)
		require.Equal(t, 1, res.Snapshot.Packages)
		require.Positive(t, served.Load())
		require.Greater(t, p.Tunnels.Load(), tunnels)
	})

	t.Run("wrong credentials over https", func(t *testing.T) {
		pk := testtool.NewPKI(t)
		srv, served := tlsUpstream(t, u, pk)
		m, st := newTestMirror(t)
		_, err := m.Sync(t.Context(), Source{Repo: testRepo, URL: srv.URL + "/", Proxy: p.URLWith(user, "wr0ng-s3cret"),
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
		_, err := m.Sync(t.Context(), Source{Repo: testRepo, URL: u.URL(), Proxy: p.URLWith(user, "wr0ng-s3cret")}, nil)
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
