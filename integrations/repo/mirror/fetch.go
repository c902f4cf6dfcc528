package mirror

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/osflow/osflow/integrations/repo"
)

const (
	userAgent = "osflow-mirror/1"
	// stallTimeout aborts a transfer that delivers no byte for this long.
	// There is no overall timeout: a large package on a slow link is fine as
	// long as bytes keep coming.
	stallTimeout = 2 * time.Minute
)

// newClient builds the HTTP client New installs: every phase before the body
// has a timeout, the body has the stall guard, and the transport never
// decompresses (we checksum the bytes exactly as served).
func newClient(concurrency int) *http.Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          4 * concurrency,
		MaxIdleConnsPerHost:   concurrency,
		DisableCompression:    true,
	}}
}

// fetcher reads files of one repo: over HTTP(S), or from disk for file://
// URLs (the overlay), confined to the repo directory by os.Root.
type fetcher struct {
	client *http.Client
	base   *url.URL
	root   *os.Root // file:// only
	stall  time.Duration
}

func newFetcher(client *http.Client, rawURL string) (*fetcher, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: repo URL %q: %w", repo.ErrInvalid, rawURL, err)
	}
	f := &fetcher{client: client, base: u, stall: stallTimeout}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("%w: repo URL %q has no host", repo.ErrInvalid, rawURL)
		}
		if client == nil {
			return nil, fmt.Errorf("%w: no HTTP client for %s", repo.ErrInvalid, rawURL)
		}
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("%w: repo URL %q: file URL with a host", repo.ErrInvalid, rawURL)
		}
		if f.root, err = os.OpenRoot(u.Path); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: repo URL %q: scheme must be http, https or file", repo.ErrInvalid, rawURL)
	}
	return f, nil
}

func (f *fetcher) Close() error {
	if f.root != nil {
		return f.root.Close()
	}
	return nil
}

// url is where href (already checked by rpmmd.CheckHref) lives, for
// requests and messages. href is a literal path, escaped here.
func (f *fetcher) url(href string) string {
	u := *f.base
	u.Path = path.Join("/", u.Path, href)
	u.RawPath = ""
	return u.String()
}

// open starts reading href. size is the length the source announces, -1 if
// it does not.
func (f *fetcher) open(ctx context.Context, href string) (body io.ReadCloser, size int64, err error) {
	if f.root != nil {
		return f.openFile(ctx, href)
	}
	return f.get(ctx, href)
}

func (f *fetcher) openFile(ctx context.Context, href string) (io.ReadCloser, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	file, err := f.root.Open(filepath.FromSlash(strings.TrimPrefix(href, "/")))
	if err != nil {
		return nil, 0, err
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		file.Close()
		return nil, 0, badContentf(f.url(href), "not a regular file")
	}
	return &ctxReader{ctx: ctx, ReadCloser: file}, st.Size(), nil
}

func (f *fetcher) get(ctx context.Context, href string) (io.ReadCloser, int64, error) {
	u := f.url(href)
	rctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		cancel(nil)
		return nil, 0, fmt.Errorf("%w: %w", repo.ErrInvalid, err)
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		cancel(nil)
		return nil, 0, err // *url.Error names the method and URL
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel(nil)
		return nil, 0, &StatusError{URL: u, Code: resp.StatusCode, Status: resp.Status}
	}
	return newStallReader(rctx, cancel, resp.Body, u, f.stall), resp.ContentLength, nil
}

// stallReader cancels its request when no byte arrives for a while.
type stallReader struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	body   io.ReadCloser
	url    string
	stall  time.Duration
	timer  *time.Timer
}

func newStallReader(ctx context.Context, cancel context.CancelCauseFunc, body io.ReadCloser, u string, stall time.Duration) *stallReader {
	r := &stallReader{ctx: ctx, cancel: cancel, body: body, url: u, stall: stall}
	r.timer = time.AfterFunc(stall, func() { cancel(errStalled) })
	return r
}

func (r *stallReader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	if n > 0 {
		r.timer.Reset(r.stall)
	}
	if err != nil && err != io.EOF && context.Cause(r.ctx) == errStalled {
		err = fmt.Errorf("GET %s: no data for %s: %w", r.url, r.stall, errStalled)
	}
	return n, err
}

func (r *stallReader) Close() error {
	r.timer.Stop()
	err := r.body.Close()
	r.cancel(nil)
	return err
}

// ctxReader makes a local read stop promptly when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	io.ReadCloser
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.ReadCloser.Read(p)
}
