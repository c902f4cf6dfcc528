package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"golang.org/x/net/html"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/mirror"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// This file reads a vendor's site: its directory listing, rpm-md
// metadata, checksum file and packages, over HTTP with the mirror's
// transport and a redirect policy of the source's own.

const sourceUserAgent = "osflow-watch/1"

// Bounds on what a vendor site can make a check read into memory.
const (
	maxListingBytes  = 16 << 20
	maxChecksumBytes = 16 << 20
	maxASCBytes      = 1 << 20
	maxListingLinks  = 100_000
	maxSourceRPM     = 8 << 30 // rpmmd.DefaultLimits' package bound
)

// errSourceRedirect marks a redirect refused by a source's policy.
var errSourceRedirect = errors.New("redirect refused")

// sourceFetcher reads the files of one source. Every URL it reads is on
// the source's scheme, host and port, and so is every redirect it follows.
type sourceFetcher struct {
	client *http.Client
	base   *url.URL // the source's URL
	speed  config.Speed
}

func newSourceFetcher(client *http.Client, source string, speed config.Speed) (*sourceFetcher, error) {
	u, err := url.Parse(source)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("source %q is not an http(s) URL: %w", source, repo.ErrInvalid)
	}
	f := &sourceFetcher{base: u, speed: speed}
	c := *client // shares the transport and its connections
	c.CheckRedirect = f.checkRedirect
	f.client = &c
	return f, nil
}

// checkRedirect follows a redirect only within the source's own scheme,
// host and port: a vendor site that sends the worker elsewhere (another
// host, https to http, file:) is refused, as the mirror refuses it.
func (f *sourceFetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	from, to := via[len(via)-1].URL, req.URL
	if len(via) >= 10 {
		return fmt.Errorf("stopped after 10 redirects, at %s", to.Redacted())
	}
	if to.User != nil || !config.SameOrigin(to, f.base) {
		return fmt.Errorf("%w: from %s to %s: a source is read from its own scheme, host and port (%s://%s) only",
			errSourceRedirect, from.Redacted(), to.Redacted(), f.base.Scheme, f.base.Host)
	}
	return nil
}

// resolve turns a reference found on the site into an absolute URL on the
// source's origin; ok is false for one that leads elsewhere.
func (f *sourceFetcher) resolve(ref string) (*url.URL, bool) {
	r, err := url.Parse(ref)
	if err != nil {
		return nil, false
	}
	u := f.base.ResolveReference(r)
	if !config.SameOrigin(u, f.base) || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, false
	}
	return u, true
}

// validators make a request conditional: a server that answers 304 has
// the file it served with them unchanged.
type validators struct {
	ETag         string
	LastModified string
}

// get starts a GET of u. 304 is returned as a response (with its body
// closed); any other status but 200 is a *mirror.StatusError, which
// sourceError classifies (5xx, 408 and 429 retried; other 4xx not).
func (f *sourceFetcher) get(ctx context.Context, u string, cond validators) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", u, repo.ErrInvalid, err)
	}
	req.Header.Set("User-Agent", sourceUserAgent)
	if cond.ETag != "" {
		req.Header.Set("If-None-Match", cond.ETag)
	}
	if cond.LastModified != "" {
		req.Header.Set("If-Modified-Since", cond.LastModified)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, errSourceRedirect) {
			return nil, fmt.Errorf("%w: %w", repo.ErrBadContent, err)
		}
		return nil, err // *url.Error names the method and URL; retried
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp, nil
	case http.StatusNotModified:
		resp.Body.Close()
		return resp, nil
	}
	resp.Body.Close()
	return nil, &mirror.StatusError{URL: u, Code: resp.StatusCode, Status: resp.Status}
}

// small reads a small file whole, refusing one over max bytes.
func (f *sourceFetcher) small(ctx context.Context, u, what string, max int64) ([]byte, error) {
	resp, err := f.get(ctx, u, validators{})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(rpmmd.LimitReader(resp.Body, max, what))
	if errors.Is(err, rpmmd.ErrMalformed) {
		return nil, fmt.Errorf("%w: %s: %w", repo.ErrBadContent, u, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return data, nil
}

// download is one file fetched into dst.
type download struct {
	NotModified bool
	Size        int64
	SHA256      string
	// Other is the hex digest in the algorithm the caller asked for too.
	Other string
	validators
}

// errTooSlow is the cause of a transfer cut off for its speed.
var errTooSlow = errors.New("not done in the time its size takes at sync.minSpeed")

// download fetches u into dst, hashing it with sha256 (and other, when not
// nil), refusing more than max bytes. A transfer keeps to sync.minSpeed:
// it gets two windows for its headers, then two windows plus the time its
// announced size takes at that speed (the activity's timeout bounds one
// of unannounced length). Cut off, it is retried.
func (f *sourceFetcher) download(ctx context.Context, u string, cond validators, dst io.Writer, max int64, other hash.Hash) (download, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	slow := func(d download, err error) (download, error) {
		if err != nil && context.Cause(ctx) == errTooSlow {
			return d, fmt.Errorf("%s: %w (%s)", u, errTooSlow, f.speed)
		}
		return d, err
	}
	var timer *time.Timer
	if f.speed.BytesPerSecond > 0 && f.speed.Window > 0 {
		timer = time.AfterFunc(2*f.speed.Window, func() { cancel(errTooSlow) })
		defer timer.Stop()
	}
	resp, err := f.get(ctx, u, cond)
	if err != nil {
		return slow(download{}, err)
	}
	if timer != nil {
		if resp.ContentLength > 0 {
			timer.Reset(2*f.speed.Window + time.Duration(float64(resp.ContentLength)/float64(f.speed.BytesPerSecond)*float64(time.Second)))
		} else {
			timer.Stop()
		}
	}
	return slow(f.read(resp, u, dst, max, other))
}

func (f *sourceFetcher) read(resp *http.Response, u string, dst io.Writer, max int64, other hash.Hash) (download, error) {
	d := download{validators: validators{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}}
	if resp.StatusCode == http.StatusNotModified {
		d.NotModified = true
		return d, nil
	}
	defer resp.Body.Close()
	if resp.ContentLength > max {
		return d, fmt.Errorf("%w: %s announces %d bytes, more than the %d allowed", repo.ErrBadContent, u, resp.ContentLength, max)
	}
	sum := sha256.New()
	w := io.MultiWriter(dst, sum)
	if other != nil {
		w = io.MultiWriter(w, other)
	}
	n, err := io.Copy(w, rpmmd.LimitReader(resp.Body, max, path.Base(u)))
	switch {
	case errors.Is(err, rpmmd.ErrMalformed):
		return d, fmt.Errorf("%w: %s: %w", repo.ErrBadContent, u, err)
	case err != nil:
		return d, fmt.Errorf("%s: %w", u, err) // a cut connection: retried
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		return d, fmt.Errorf("%s: body cut short at %d of %d bytes", u, n, resp.ContentLength)
	}
	d.Size, d.SHA256 = n, hex.EncodeToString(sum.Sum(nil))
	if other != nil {
		d.Other = hex.EncodeToString(other.Sum(nil))
	}
	return d, nil
}

// listingLinks reads the links of an HTML directory listing (Apache,
// nginx, Go's file server, a vendor's own page): the files directly in
// the listing's directory whose names end in .rpm, by name. Links to
// other hosts, other directories, queries and fragments are not files of
// the listing.
func (f *sourceFetcher) listingLinks(page []byte) (map[string]string, error) {
	links := map[string]string{}
	dir := f.base.Path
	z := html.NewTokenizer(bytes.NewReader(page))
	for n := 0; ; {
		tt := z.Next()
		if tt == html.ErrorToken {
			if err := z.Err(); err != io.EOF {
				return nil, fmt.Errorf("%w: %s: reading the listing: %w", repo.ErrBadContent, f.base.Redacted(), err)
			}
			return links, nil
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, hasAttr := z.TagName()
		if string(name) != "a" || !hasAttr {
			continue
		}
		for more := true; more; {
			var k, v []byte
			k, v, more = z.TagAttr()
			if string(k) != "href" {
				continue
			}
			u, ok := f.resolve(string(v))
			if !ok || path.Dir(u.Path)+"/" != dir {
				continue
			}
			file := path.Base(u.Path)
			if !strings.HasSuffix(file, ".rpm") || rpmmd.CheckHref(file) != nil {
				continue
			}
			if n++; n > maxListingLinks {
				return nil, fmt.Errorf("%w: %s: more than %d RPM links", repo.ErrBadContent, f.base.Redacted(), maxListingLinks)
			}
			links[file] = u.String()
		}
	}
}

// sumLine is a line of a SHA256SUMS-style file: GNU ("hex  name", "hex
// *name") or BSD ("SHA256 (name) = hex"). Other lines (comments, a
// clear-signature's armor) are not sums.
var (
	gnuSumRE = regexp.MustCompile(`^([0-9a-fA-F]{64}) [ *](.+)$`)
	bsdSumRE = regexp.MustCompile(`^SHA256 \((.+)\) = ([0-9a-fA-F]{64})$`)
)

// parseChecksums reads a checksum file into file name -> sha256. Names are
// taken by their last path element, as vendors list "./x.rpm" or
// "Packages/x.rpm". A name listed twice with different sums is refused.
func parseChecksums(where string, data []byte) (map[string]string, error) {
	sums := map[string]string{}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimRight(line, "\r\n")
		var name, sum string
		if m := gnuSumRE.FindStringSubmatch(line); m != nil {
			sum, name = m[1], m[2]
		} else if m := bsdSumRE.FindStringSubmatch(line); m != nil {
			name, sum = m[1], m[2]
		} else {
			continue
		}
		name, sum = path.Base(name), strings.ToLower(sum)
		if prev, dup := sums[name]; dup && prev != sum {
			return nil, fmt.Errorf("%w: %s lists %s twice, with sums %s and %s", repo.ErrBadContent, where, name, prev, sum)
		}
		sums[name] = sum
	}
	if len(sums) == 0 {
		return nil, fmt.Errorf("%w: %s holds no SHA256 sums (want \"hex  name\" lines)", repo.ErrBadContent, where)
	}
	return sums, nil
}

// rpmmdPackages reads an rpm-md repo's primary.xml and calls each with
// every package it lists. repomd.xml, and primary's checksum and sizes
// through it, are verified as the mirror verifies them; the packages'
// checksums are checked when they are downloaded.
func (f *sourceFetcher) rpmmdPackages(ctx context.Context, tmpDir string, each func(rpmmd.Package) error) error {
	lim := rpmmd.DefaultLimits()
	where := f.base.String() + "repodata/repomd.xml"
	data, err := f.small(ctx, where, "repomd.xml", lim.RepomdBytes)
	if err != nil {
		return err
	}
	md, err := rpmmd.ParseRepomd(bytes.NewReader(data), lim)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", repo.ErrBadContent, where, err)
	}
	d, ok := md.Find("primary")
	if !ok {
		return fmt.Errorf("%w: %s lists no primary metadata", repo.ErrBadContent, where)
	}
	primaryURL, ok := f.resolve(d.Href)
	if !ok || rpmmd.CheckHref(d.Href) != nil {
		return fmt.Errorf("%w: %s: primary href %q leaves the repo", repo.ErrBadContent, where, d.Href)
	}
	tmp, err := os.CreateTemp(tmpDir, ".primary-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h, err := rpmmd.NewHash(d.Checksum.Algo)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", repo.ErrBadContent, where, err)
	}
	got, err := f.download(ctx, primaryURL.String(), validators{}, tmp, d.Size, h)
	if err != nil {
		return err
	}
	if got.Other != d.Checksum.Hex || got.Size != d.Size {
		return fmt.Errorf("%w: %s: %s checksum or size mismatch: repomd.xml says %s (%d bytes), got %s (%d bytes)",
			repo.ErrBadContent, primaryURL.Redacted(), d.Checksum.Algo, d.Checksum.Hex, d.Size, got.Other, got.Size)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	rc, err := rpmmd.Decompress(d.Href, tmp, lim.OpenBytes)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", repo.ErrBadContent, primaryURL.Redacted(), err)
	}
	defer rc.Close()
	var open io.Reader = rc
	if d.OpenSize > 0 {
		open = rpmmd.LimitReader(rc, d.OpenSize, "decompressed "+path.Base(d.Href)+" (its declared open-size)")
	}
	err = rpmmd.ParsePrimary(open, f.base.String(), each)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%w: %s: %w", repo.ErrBadContent, primaryURL.Redacted(), err)
	}
	return err
}
