package mirror

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/osflow/osflow/integrations/repo"
)

// A repo is read from its URL, from the mirrors a mirrorlist names, or
// from those a metalink names, whose checksums the chosen mirror's
// repomd.xml must match. The first candidate whose repomd.xml passes every
// check (signature, metalink, freshness) is the one the whole sync reads;
// the others are refused, each with its reason, in the log and the
// result.

const (
	// maxListBytes bounds a mirrorlist or metalink (EPEL's are ~100 KiB).
	maxListBytes = 4 << 20
	// maxMirrors bounds the mirrors tried from one list.
	maxMirrors = 100
)

// Refusal is a mirror a sync did not read from, and why.
type Refusal struct {
	Mirror string // base URL, without a password
	Err    error
}

// MirrorsError is a sync that found no mirror to read from. It is as
// retryable as the most retryable of its refusals: one mirror down for
// now is worth another attempt, every mirror stale is not.
type MirrorsError struct {
	From    string // the mirrorlist or metalink
	Refused []Refusal
}

func (e *MirrorsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no usable mirror among the %d tried", len(e.Refused))
	if e.From != "" {
		fmt.Fprintf(&b, " from %s", e.From)
	}
	writeShown(&b, len(e.Refused), func(i int) string { return e.Refused[i].Mirror + ": " + e.Refused[i].Err.Error() })
	return b.String()
}

// writeShown writes ": " and the first filesShown of n items, "; " between
// them, and how many more there are.
func writeShown(b *strings.Builder, n int, item func(i int) string) {
	for i := range n {
		if i == filesShown {
			fmt.Fprintf(b, "; and %d more", n-filesShown)
			return
		}
		sep := ": "
		if i > 0 {
			sep = "; "
		}
		b.WriteString(sep + item(i))
	}
}

// Unwrap is the refusal that classifies the whole: the first retryable
// one, else the first.
func (e *MirrorsError) Unwrap() error {
	for _, r := range e.Refused {
		if IsRetryable(r.Err) {
			return r.Err
		}
	}
	if len(e.Refused) == 0 {
		return nil
	}
	return e.Refused[0].Err
}

// candidates are the base URLs a sync tries, in order, and the metalink
// their repomd.xml must match (nil without one).
type candidates struct {
	from     string // the list's URL, "" without a list
	bases    []string
	metalink *metalink
}

// candidates lists where src may be read: its URL first, then the mirrors
// of its mirrorlist or metalink. A mirrorlist that cannot be read leaves
// the URL, when there is one; a metalink cannot be done without, as it is
// what tells a current mirror from a stale one.
func (r *syncRun) candidates(ctx context.Context, client *http.Client) (candidates, error) {
	src := r.src
	c := candidates{}
	if src.URL != "" {
		c.bases = []string{src.URL}
	}
	list, metalinkOnly := src.Metalink, true
	if list == "" {
		list, metalinkOnly = src.Mirrorlist, false
	}
	if list == "" {
		return c, nil
	}
	c.from = redactURL(list)
	data, err := r.fetchList(ctx, client, list)
	if err == nil {
		err = c.parse(list, data, metalinkOnly)
	}
	switch {
	case err == nil:
	case src.Metalink == "" && src.URL != "" && ctx.Err() == nil:
		r.log.Warn("mirrorlist not read; trying the repo's url alone", zap.String("mirrorlist", c.from), zap.Error(err))
		return c, nil
	default:
		return c, err
	}
	if c.metalink != nil {
		for _, s := range c.metalink.Skipped {
			r.log.Info("metalink entry skipped", zap.String("entry", s))
		}
		for _, m := range c.metalink.Mirrors {
			c.bases = appendMirror(c.bases, m)
		}
	}
	if len(c.bases) > maxMirrors {
		c.bases = c.bases[:maxMirrors]
	}
	return c, nil
}

// fetchList reads a mirrorlist or metalink (its query kept, as
// MirrorManager's URLs need it), with the repo's redirect policy.
func (r *syncRun) fetchList(ctx context.Context, client *http.Client, list string) (data []byte, err error) {
	f, err := newFetcher(client, list)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	f.speed, f.redirectHosts, f.log = r.m.minSpeed(), r.src.AllowRedirectHosts, r.log
	err = r.retrying(ctx, f.url(""), func(ctx context.Context) error {
		data, err = fetchSmall(ctx, f, "", maxListBytes)
		return err
	})
	return data, err
}

// parse reads a fetched list: a metalink (which a mirrorlist URL may also
// return, as Fedora's did), or a mirrorlist, one base URL a line.
func (c *candidates) parse(list string, data []byte, metalinkOnly bool) error {
	where := redactURL(list)
	if metalinkOnly || bytes.HasPrefix(bytes.TrimSpace(data), []byte("<")) {
		ml, err := parseMetalink(where, data)
		if err != nil {
			return badContent(where, err)
		}
		c.metalink = ml
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if why := badMirrorURL(line); why != "" {
			return badContentf(where, "the mirrorlist lists %q: %s", redactURL(line), why)
		}
		c.bases = appendMirror(c.bases, line)
		n++
	}
	if err := sc.Err(); err != nil {
		return badContent(where, err)
	}
	if n == 0 {
		return badContentf(where, "the mirrorlist names no mirror")
	}
	return nil
}

// badMirrorURL says why a listed mirror may not be read, "" if it may: a
// list names http or https mirrors, never a file or a URL with user info.
func badMirrorURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("scheme %q: mirrors are read over http or https only", u.Scheme)
	case u.Host == "":
		return "no host"
	case u.User != nil:
		return "a mirror URL has no user info"
	case u.RawQuery != "" || u.Fragment != "":
		return "a mirror URL has no query or fragment"
	}
	return ""
}

// appendMirror adds base, made to end with "/", unless listed already.
func appendMirror(bases []string, base string) []string {
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	for _, b := range bases {
		if b == base {
			return bases
		}
	}
	return append(bases, base)
}

// hosts are the candidates' host:port, which redirects between them may
// reach: a list's mirrors are trusted for this repo, and no other.
func (c candidates) hosts() []string {
	var hosts []string
	for _, b := range c.bases {
		if u, err := url.Parse(b); err == nil && u.Host != "" {
			hosts = append(hosts, hostPort(u))
		}
	}
	return hosts
}

// pickMirror fetches and checks the index from each candidate in turn
// and keeps the first that passes, with r.f reading from it. With a list,
// each candidate gets one try (the sync's own retries then go to the
// mirror chosen): a mirror that is down costs one request, not the file's
// backoff. With one candidate, its error is the sync's, as it is.
func (r *syncRun) pickMirror(ctx context.Context, client *http.Client, c candidates) (index, error) {
	if len(c.bases) == 0 {
		return index{}, fmt.Errorf("%w: no url, mirrorlist or metalink to read the repo from", repo.ErrInvalid)
	}
	retry := r.retry
	if len(c.bases) > 1 {
		r.retry.Attempts = 1
	}
	defer func() { r.retry = retry }()
	allowed := append(append([]string(nil), r.src.AllowRedirectHosts...), c.hosts()...)
	var refused []Refusal
	for i, base := range c.bases {
		ix, err := r.tryMirror(ctx, client, base, c.metalink, allowed)
		if err == nil {
			r.refused = refused
			r.spare = spareMirrors{client: client, bases: c.bases[i+1:], allowed: allowed}
			if c.from != "" {
				r.log.Info("mirror chosen", zap.String("mirror", redactURL(base)), zap.Int("refused", len(refused)))
			}
			return ix, nil
		}
		if len(c.bases) == 1 || ctx.Err() != nil || errors.Is(err, ErrUpstreamFailing) {
			return index{}, err
		}
		r.log.Warn("mirror refused", zap.String("mirror", redactURL(base)), zap.Error(err))
		refused = append(refused, Refusal{Mirror: redactURL(base), Err: err})
	}
	return index{}, &MirrorsError{From: c.from, Refused: refused}
}

// tryMirror points r.f at base and fetches and checks its index.
func (r *syncRun) tryMirror(ctx context.Context, client *http.Client, base string, ml *metalink, allowed []string) (index, error) {
	if err := r.useBase(client, base, allowed); err != nil {
		return index{}, err
	}
	ix, err := r.fetchIndex(ctx)
	if err != nil {
		return index{}, err
	}
	if ml != nil {
		if err := ml.check(ix, r.f.url(repomdPath)); err != nil {
			return index{}, err
		}
	}
	return ix, r.checkFresh(ix)
}

// useBase points r.f at base, whose redirects may reach the allowed hosts.
func (r *syncRun) useBase(client *http.Client, base string, allowed []string) error {
	f, err := newFetcher(client, base)
	if err != nil {
		return err
	}
	if r.f != nil {
		r.f.Close()
	}
	r.f = f
	f.speed, f.redirectHosts, f.log = r.m.minSpeed(), allowed, r.log
	return nil
}

// spareMirrors are the candidates after the one chosen, for fallBack.
type spareMirrors struct {
	client  *http.Client
	bases   []string
	allowed []string
}

// fallBack points r.f at the next spare mirror that serves exactly ix,
// after the current one failed with err in a way another mirror may not:
// a file missing or failing there. It reports whether it found one; each
// mirror it passes over, and the one that failed, join r.refused.
func (r *syncRun) fallBack(ctx context.Context, ix index, err error) bool {
	if !IsRetryable(err) || ctx.Err() != nil || len(r.spare.bases) == 0 {
		return false
	}
	failed := r.f.base.Redacted()
	r.log.Warn("mirror failed; falling back to the next", zap.String("mirror", failed), zap.Error(err))
	r.refused = append(r.refused, Refusal{Mirror: failed, Err: err})
	retry := r.retry
	r.retry.Attempts = 1
	defer func() { r.retry = retry }()
	for len(r.spare.bases) > 0 {
		base := r.spare.bases[0]
		r.spare.bases = r.spare.bases[1:]
		next, err := r.tryMirror(ctx, r.spare.client, base, nil, r.spare.allowed)
		if err == nil && next.SHA256 != ix.SHA256 {
			err = badContentf(r.f.url(repomdPath), "serves another repomd.xml (sha256 %s) than the mirror chosen (sha256 %s)", next.SHA256, ix.SHA256)
		}
		if err == nil {
			r.log.Info("mirror chosen", zap.String("mirror", redactURL(base)), zap.Int("refused", len(r.refused)))
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		r.log.Warn("mirror refused", zap.String("mirror", redactURL(base)), zap.Error(err))
		r.refused = append(r.refused, Refusal{Mirror: redactURL(base), Err: err})
	}
	return false
}
