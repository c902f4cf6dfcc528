package testtool

import (
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// ForwardProxy is an HTTP forward proxy that wants Basic credentials; it
// counts the requests it forwarded and the CONNECT tunnels it opened.
type ForwardProxy struct {
	*httptest.Server
	Forwarded, Tunnels atomic.Int32
}

// NewForwardProxy runs a proxy wanting user:pass until t ends.
func NewForwardProxy(t testing.TB, user, pass string) *ForwardProxy {
	p := &ForwardProxy{}
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
			tunnel(w, r.Host)
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

// URLWith is the proxy's URL with credentials.
func (p *ForwardProxy) URLWith(user, pass string) string {
	return strings.Replace(p.URL, "http://", "http://"+user+":"+pass+"@", 1)
}

// tunnel joins the client's connection to host, both ways.
func tunnel(w http.ResponseWriter, host string) {
	up, err := net.Dial("tcp", host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer up.Close()
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	done := make(chan struct{})
	go func() { io.Copy(up, buf); up.(*net.TCPConn).CloseWrite(); close(done) }()
	io.Copy(conn, up)
	<-done
}
