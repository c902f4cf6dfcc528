package config

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"strings"
)

// How a repo is reached: mirrorlist or metalink beside (or instead of)
// url, a TLS client identity, a forward proxy. Messages show a URL's
// password as xxxxx, and never what a key file holds.

// checkRepoNetwork checks the network settings of the mirror (or
// overlay) r at p.
func (d *decoder) checkRepoNetwork(p string, r *Repo) {
	if r.Overlay {
		for _, f := range []struct {
			key string
			set bool
		}{{"mirrorlist", r.Mirrorlist != ""}, {"metalink", r.Metalink != ""}, {"tls", r.TLS != nil}, {"proxy", r.Proxy != ""}} {
			if f.set {
				d.errorf(p+"."+f.key, "an overlay is read from disk: it has no %s", f.key)
			}
		}
		return
	}
	if strings.Contains(r.URL, "$") {
		d.errorf(p+".url", "%q: osflow does not expand dnf variables ($releasever, $basearch): write their values", redactedURL(r.URL))
	}
	if r.Mirrorlist != "" && r.Metalink != "" {
		d.errorf(p+".metalink", "mirrorlist and metalink are alternatives: set only one")
	}
	d.listURL(p+".mirrorlist", r.Mirrorlist)
	d.listURL(p+".metalink", r.Metalink)
	if strings.HasPrefix(r.URL, "file:") && (r.Mirrorlist != "" || r.Metalink != "" || r.TLS != nil || r.Proxy != "") {
		d.errorf(p+".url", "a file URL is read from disk: no mirrorlist, metalink, tls or proxy goes with it")
	}
	d.checkProxy(p+".proxy", r.Proxy)
	if r.TLS != nil {
		d.checkRepoTLS(p+".tls", r)
	}
}

// listURL checks a mirrorlist or metalink URL: http or https, with a host
// and no user info; a query is kept (MirrorManager's URLs are all query).
func (d *decoder) listURL(path, raw string) {
	u, ok := d.httpURL(path, raw)
	switch {
	case !ok:
	case u.User != nil:
		d.errorf(path, "%q: no user info in this URL (a proxy's credentials go in proxy)", u.Redacted())
	case u.Fragment != "":
		d.errorf(path, "%q: no fragment in this URL", u.Redacted())
	case strings.Contains(raw, "$"):
		d.errorf(path, "%q: osflow does not expand dnf variables ($releasever, $basearch): write their values", u.Redacted())
	}
}

// checkProxy checks a forward proxy URL: http or https, a host, nothing
// past it; user info allowed, and shown without its password.
func (d *decoder) checkProxy(path, raw string) {
	u, ok := d.httpURL(path, raw)
	if ok && (strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "") {
		d.errorf(path, "%q: a proxy URL is scheme://[user:password@]host:port, with no path or query", u.Redacted())
	}
}

// httpURL parses raw, when set, as an http or https URL with a host; its
// errors show no password.
func (d *decoder) httpURL(path, raw string) (*url.URL, bool) {
	if raw == "" {
		return nil, false
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		d.errorf(path, "%q is not a URL", redactedURL(raw))
	case u.Scheme != "http" && u.Scheme != "https":
		d.errorf(path, "%q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		d.errorf(path, "%q has no host", u.Redacted())
	default:
		return u, true
	}
	return nil, false
}

// redactedURL shows raw, which did not parse as a URL, without what may
// be a password: everything between "://" and the last "@".
func redactedURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	i, j := strings.Index(raw, "://"), strings.LastIndexByte(raw, '@')
	if i >= 0 && j > i {
		return raw[:i+3] + "xxxxx" + raw[j:]
	}
	return raw
}

// checkRepoTLS checks r.TLS at path: clientCert and clientKey together,
// readable, and a certificate with its key; caCert a PEM bundle. The
// repo's URL, when it is its only source, must be https.
func (d *decoder) checkRepoTLS(path string, r *Repo) {
	t := r.TLS
	if *t == (RepoTLS{}) {
		d.errorf(path, "set clientCert and clientKey, caCert, or all three")
		return
	}
	if (t.ClientCert == "") != (t.ClientKey == "") {
		d.errorf(path, "clientCert and clientKey go together: set both or neither")
	}
	if r.Mirrorlist == "" && r.Metalink == "" && strings.HasPrefix(r.URL, "http:") {
		d.errorf(path, "the repo's url %q is http: tls applies to https", redactedURL(r.URL))
	}
	before := len(d.errs)
	d.readable(path+".clientCert", t.ClientCert)
	d.secretFile(path+".clientKey", t.ClientKey)
	d.readable(path+".caCert", t.CACert)
	if len(d.errs) > before {
		return
	}
	if t.ClientCert != "" && t.ClientKey != "" {
		// The error names neither file's content, only what is wrong.
		if _, err := tls.LoadX509KeyPair(t.ClientCert, t.ClientKey); err != nil {
			d.errorf(path+".clientKey", "%s with %s: %v", t.ClientCert, t.ClientKey, err)
		}
	}
	if t.CACert != "" {
		pem, err := os.ReadFile(t.CACert)
		if err == nil && !x509.NewCertPool().AppendCertsFromPEM(pem) {
			d.errorf(path+".caCert", "%s holds no PEM certificate", t.CACert)
		}
	}
}
