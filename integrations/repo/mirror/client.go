package mirror

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/osflow/osflow/integrations/repo"
)

// TLSFiles are a repo's TLS client identity and the CA its server must
// chain to, as PEM files. They are read at every sync, so an entitlement
// certificate renewed in place is picked up, and only their paths ever
// appear in a message: the key never leaves the transport.
type TLSFiles struct {
	ClientCert, ClientKey string // both or neither
	// CACert replaces the system's roots for this repo (the Red Hat CDN's
	// certificate is issued by Red Hat's own CA); "" keeps them.
	CACert string
}

// maxPEM bounds a certificate, key or CA bundle file.
const maxPEM = 1 << 20

// client is the HTTP client a sync of src uses: the Mirror's, or, for a
// repo with TLS files or a proxy of its own, one on a clone of the
// Mirror's transport with them (done closes its idle connections). Either
// way a TLS failure that only the configuration can fix says so and is not
// retried.
func (m *Mirror) client(src Source) (c *http.Client, done func(), err error) {
	c = new(http.Client)
	*c = *m.Client
	done = func() {}
	if src.TLS != (TLSFiles{}) || src.Proxy != "" {
		base, ok := m.Client.Transport.(*http.Transport)
		if !ok {
			return nil, nil, fmt.Errorf("%w: the repo has its own tls or proxy settings, but the mirror's HTTP client has no *http.Transport to apply them to", repo.ErrInvalid)
		}
		t := base.Clone()
		if src.TLS != (TLSFiles{}) {
			if t.TLSClientConfig, err = src.TLS.config(); err != nil {
				return nil, nil, err
			}
		}
		if src.Proxy != "" {
			u, err := ParseProxy(src.Proxy)
			if err != nil {
				return nil, nil, err
			}
			t.Proxy = http.ProxyURL(u)
		}
		c.Transport, done = t, t.CloseIdleConnections
	}
	c.Transport = configErrors{c.Transport, src.Proxy != ""}
	return c, done, nil
}

// ParseProxy parses a forward proxy URL: http or https, a host, nothing
// past it. Its errors never show the URL's password.
func ParseProxy(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: proxy %s is not a URL", repo.ErrInvalid, redactURL(raw))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: proxy %s: scheme must be http or https", repo.ErrInvalid, u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("%w: proxy %s has no host", repo.ErrInvalid, u.Redacted())
	case strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%w: proxy %s: a proxy URL has no path, query or fragment", repo.ErrInvalid, u.Redacted())
	}
	return u, nil
}

// config is the TLS configuration of f.
func (f TLSFiles) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if (f.ClientCert == "") != (f.ClientKey == "") {
		return nil, fmt.Errorf("%w: tls: clientCert and clientKey go together", repo.ErrInvalid)
	}
	if f.ClientCert != "" {
		cert, err := LoadKeyPair(f.ClientCert, f.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", repo.ErrInvalid, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if f.CACert != "" {
		pool, err := LoadCAs(f.CACert)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", repo.ErrInvalid, err)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// LoadKeyPair reads a client certificate and its private key. Its errors
// name the files, never what the key file holds.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := readPEM(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readPEM(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// LoadCAs reads a PEM bundle of CA certificates.
func LoadCAs(file string) (*x509.CertPool, error) {
	data, err := readPEM(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("CA certificate %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// readPEM reads a regular file of at most maxPEM bytes; the open does not
// block on a FIFO.
func readPEM(name string) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPEM+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxPEM {
		return nil, fmt.Errorf("%s: larger than %d bytes, not a PEM file", name, maxPEM)
	}
	return data, nil
}

// configErrors marks transport failures that the same request will meet
// again until the configuration changes as repo.ErrInvalid, with what to
// change: a server certificate that does not verify, a server that refuses
// our client certificate (or our lack of one), and a proxy that refuses
// its credentials for a CONNECT (the transport reports only the status
// text; over http the proxy's 407 is a response, a StatusError).
type configErrors struct {
	http.RoundTripper
	proxied bool
}

func (t configErrors) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(req)
	if err != nil {
		err = classifyConfig(err, t.proxied)
	}
	return resp, err
}

func classifyConfig(err error, proxied bool) error {
	var verr *tls.CertificateVerificationError
	var op *net.OpError
	switch {
	case proxied && err.Error() == http.StatusText(http.StatusProxyAuthRequired):
		return fmt.Errorf("%w: the proxy wants other credentials (the user and password in the repo's proxy URL): CONNECT: %w", repo.ErrInvalid, err)
	case errors.As(err, &verr):
		return fmt.Errorf("%w: the server's certificate is not trusted (the repo's tls.caCert names the CA to trust): %w", repo.ErrInvalid, err)
	case errors.As(err, &op) && op.Op == "remote error" && strings.Contains(op.Err.Error(), "certificate"):
		return fmt.Errorf("%w: the server refused the client certificate, or wants one (set the repo's tls.clientCert and tls.clientKey): %w", repo.ErrInvalid, err)
	}
	return err
}
