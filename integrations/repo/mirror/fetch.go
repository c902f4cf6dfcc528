package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/osflow/osflow/integrations/repo"
)

const userAgent = "osflow-mirror/1"

// newClient builds the HTTP client New installs: every phase before the
// body has a timeout, the body has the speed guard (see speedReader), and
// the transport never decompresses (we checksum the bytes exactly as
// served). Its keep-alive pool holds a connection for every download that
// may run at once, so that none is torn down between two files.
func newClient(concurrency int) *http.Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    15 * time.Second,
		ResponseHeaderTimeout:  60 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeader,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConns:           4 * concurrency,
		MaxIdleConnsPerHost:    concurrency,
		DisableCompression:     true,
	}}
}

// fetcher reads files of one repo: over HTTP(S), or from disk for file://
// URLs (the overlay), confined to the repo directory by os.Root.
type fetcher struct {
	client *http.Client // the Mirror's transport, with this repo's redirect policy
	base   *url.URL
	root   *os.Root // file:// only
	speed  MinSpeed
	// redirectHosts are the hosts ("host" or "host:port") besides the
	// repo's own that a redirect may lead to.
	redirectHosts []string
	log           *zap.Logger
}

func newFetcher(client *http.Client, rawURL string) (*fetcher, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: repo URL %q: %w", repo.ErrInvalid, redactURL(rawURL), err)
	}
	f := &fetcher{base: u, speed: DefaultMinSpeed, log: zap.NewNop()}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("%w: repo URL %q has no host", repo.ErrInvalid, u.Redacted())
		}
		if client == nil {
			return nil, fmt.Errorf("%w: no HTTP client for %s", repo.ErrInvalid, u.Redacted())
		}
		// A client of our own shares the transport (and its connection
		// pool) but checks redirects against this repo.
		c := *client
		c.CheckRedirect = f.checkRedirect
		f.client = &c
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("%w: repo URL %q: file URL with a host", repo.ErrInvalid, u.Redacted())
		}
		if f.root, err = os.OpenRoot(u.Path); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: repo URL %q: scheme must be http, https or file", repo.ErrInvalid, u.Redacted())
	}
	return f, nil
}

// redactURL hides a password in a URL that may not parse.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	if i := strings.LastIndexByte(raw, '@'); i >= 0 {
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			return raw[:j+3] + "xxxxx" + raw[i:]
		}
	}
	return raw
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
	u := f.at(href)
	return u.Redacted()
}

// at is the URL of href; "" is the base itself, as given (a mirrorlist's
// or metalink's URL, query and all).
func (f *fetcher) at(href string) url.URL {
	u := *f.base
	if href != "" {
		u.Path = path.Join("/", u.Path, href)
		u.RawPath = ""
	}
	return u
}

// errRedirect marks a redirect refused by the repo's redirect policy.
var errRedirect = errors.New("redirect refused")

// maxRedirects is how many redirects one request follows, as browsers do.
const maxRedirects = 10

// checkRedirect follows a redirect only within the repo's own scheme,
// host and port, or to a host the site trusts (allowRedirectHosts), never
// from https to http, and logs every redirect it follows. Anything else
// would let a compromised upstream make the worker request any URL it
// names, in the site's internal network too.
func (f *fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	from, to := via[len(via)-1].URL, req.URL
	if len(via) >= maxRedirects {
		// A loop, most likely: the same redirects would follow again.
		return fmt.Errorf("%w: stopped after %d redirects, at %s", errRedirect, maxRedirects, to.Redacted())
	}
	if why := f.refuseRedirect(from, to); why != "" {
		return fmt.Errorf("%w: from %s to %s: %s", errRedirect, from.Redacted(), to.Redacted(), why)
	}
	f.log.Info("following redirect", zap.String("from", from.Redacted()), zap.String("to", to.Redacted()))
	return nil
}

// refuseRedirect says why the redirect from → to is refused, "" if not.
func (f *fetcher) refuseRedirect(from, to *url.URL) string {
	switch {
	case to.Scheme != "http" && to.Scheme != "https":
		return fmt.Sprintf("scheme %q: a repo is read over http or https only", to.Scheme)
	case from.Scheme == "https" && to.Scheme == "http":
		return "from https to http"
	case to.User != nil:
		return "the target has user info"
	case to.Scheme == f.base.Scheme && hostPort(to) == hostPort(f.base):
		return ""
	}
	for _, h := range f.redirectHosts {
		if strings.EqualFold(h, to.Hostname()) || strings.EqualFold(h, hostPort(to)) {
			return ""
		}
	}
	return fmt.Sprintf("another host than the repo's %s (add %s to the repo's allowRedirectHosts to trust it)", hostPort(f.base), to.Hostname())
}

// hostPort is u's host:port, with the scheme's default port made explicit.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return strings.ToLower(net.JoinHostPort(u.Hostname(), port))
}

// open starts reading href. size is the length the source announces, -1 if
// it does not.
func (f *fetcher) open(ctx context.Context, href string) (body io.ReadCloser, size int64, err error) {
	if f.root != nil {
		return f.openFile(ctx, href)
	}
	return f.get(ctx, href)
}

// openFile opens a regular file of a file:// repo. The open never blocks
// (a FIFO would wait for a writer for as long as the sync heartbeats), and
// anything but a regular file inside the repo directory is bad content.
func (f *fetcher) openFile(ctx context.Context, href string) (io.ReadCloser, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	where := f.url(href)
	file, err := f.root.OpenFile(filepath.FromSlash(strings.TrimPrefix(href, "/")), os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, fileError(where, err)
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		file.Close()
		return nil, 0, badContentf(where, "not a regular file but %s", fileKind(st.Mode()))
	}
	return &ctxReader{ctx: ctx, ReadCloser: file}, st.Size(), nil
}

// fileError classifies a failure to open a file of a file:// repo.
func fileError(where string, err error) error {
	var errno unix.Errno
	switch {
	case !errors.As(err, &errno):
		// os.Root's own refusal: a symlink or ".." leading out of the repo.
		return badContentf(where, "leaves the repo directory (a symlink pointing outside it?): %w", err)
	case errno == unix.ELOOP:
		return badContentf(where, "a symlink loop: %w", err)
	case errno == unix.ENAMETOOLONG:
		return badContentf(where, "name too long: %w", err)
	case errno == unix.ENXIO:
		return badContentf(where, "not a regular file (a socket?): %w", err)
	case errno == unix.ENOTDIR:
		return badContentf(where, "a parent of it is a file, not a directory: %w", err)
	}
	return err
}

func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return m.Type().String()
}

func (f *fetcher) get(ctx context.Context, href string) (io.ReadCloser, int64, error) {
	u := f.url(href)
	rctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, f.rawURL(href), nil)
	if err != nil {
		cancel(nil)
		return nil, 0, fmt.Errorf("%w: %w", repo.ErrInvalid, err)
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		cancel(nil)
		if errors.Is(err, errRedirect) || headerTooLarge(err) {
			return nil, 0, badContent(u, err)
		}
		return nil, 0, err // *url.Error names the method and URL
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel(nil)
		return nil, 0, &StatusError{URL: u, Code: resp.StatusCode, Status: resp.Status,
			RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	return newSpeedReader(rctx, cancel, resp.Body, f.speed), resp.ContentLength, nil
}

// maxResponseHeader bounds a response's header: far above what any
// mirror sends (curl allows 100 KiB per line), far below net/http's
// default of 10 MiB.
const maxResponseHeader = 256 << 10

// headerTooLarge reports whether err is net/http refusing a response
// header over the transport's MaxResponseHeaderBytes. net/http has no
// error value for it, only this text.
func headerTooLarge(err error) bool {
	return strings.Contains(err.Error(), "server response headers exceeded")
}

// rawURL is url(href) with the user info kept, for the request itself.
func (f *fetcher) rawURL(href string) string {
	u := f.at(href)
	return u.String()
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); 0 when
// absent or unreadable.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
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
