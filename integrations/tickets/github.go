package tickets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

// DefaultLabel is the label that marks the GitHub issues osflow manages.
const DefaultLabel = "osflow"

const (
	// fingerprintLabelPrefix starts the per-fingerprint label. A label
	// cannot hold the fingerprint itself (50 characters at most), so it
	// holds a hash, and the marker in the body confirms the match.
	fingerprintLabelPrefix = "osflow-fp:"
	fingerprintHashLen     = 16 // hex digits: 64 bits, "osflow-fp:" + 16 = 26 characters
	markerPrefix           = "<!-- osflow-fingerprint: "
	markerSuffix           = " -->"
	userAgent              = "osflow-tickets/1"
	defaultRetryAfter      = time.Minute // GitHub: "wait for at least one minute"
	defaultTimeout         = time.Minute
	maxPerPage             = 100
)

// GitHub files tickets as issues of one repository. Build it with
// NewGitHub.
//
// A ticket's fingerprint is stored twice: as a hidden marker in the body
// and as a label osflow-fp:<hash>. FindOpen lists the open issues carrying
// the managed label and that fingerprint label, and confirms the marker. It
// never uses the Search API, whose index lags behind writes: a lookup just
// after a create would miss the new issue and file a duplicate.
//
// GitHub has no lock, so two processes filing the same fingerprint at the
// same moment can both create an issue; within one process, Create and
// FileOrComment are serialised.
type GitHub struct {
	client      *github.Client
	owner, repo string
	label       string // managed label
	tokenName   string // for messages only
	perPage     int
	now         func() time.Time
	filing      chan struct{} // holds one token while a Create or FileOrComment runs
	// Crash is a test hook called after each durable step (crashpoint.go).
	Crash CrashHook
}

var _ Tracker = (*GitHub)(nil)

var (
	ownerRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)
	repoNameRE    = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	issueNumberRE = regexp.MustCompile(`^#?([1-9][0-9]{0,9})$`)
)

// NewGitHub returns a tracker for the issues of owner/repo.
//
//   - httpClient carries timeouts and proxies; nil means a client with a
//     one-minute timeout. It is copied, never modified.
//   - baseURL is "" for api.github.com, or a GitHub Enterprise Server API
//     root such as https://github.example.com/api/v3/.
//   - token is called for every request, so a rotated token is picked up
//     without a restart; the token is sent to the API host only, and is
//     never kept in a Ticket or an error.
//   - tokenName names where the token comes from (e.g. "GITHUB_TOKEN"),
//     for error messages.
//   - label is the managed label; "" means DefaultLabel.
func NewGitHub(httpClient *http.Client, baseURL, owner, repo string, token func() (string, error), tokenName, label string) (*GitHub, error) {
	if !ownerRE.MatchString(owner) || !repoNameRE.MatchString(repo) || repo == "." || repo == ".." {
		return nil, fmt.Errorf("%w: GitHub repository %q/%q: want owner/name", ErrInvalid, owner, repo)
	}
	if token == nil {
		return nil, fmt.Errorf("%w: GitHub %s/%s: no token source", ErrInvalid, owner, repo)
	}
	if tokenName == "" {
		tokenName = "GITHUB_TOKEN"
	}
	if label == "" {
		label = DefaultLabel
	}
	if err := validateLabels([]string{label}); err != nil {
		return nil, fmt.Errorf("GitHub %s/%s: managed label: %w", owner, repo, err)
	}
	if strings.HasPrefix(strings.ToLower(label), fingerprintLabelPrefix) {
		return nil, fmt.Errorf("%w: GitHub %s/%s: managed label %q must not start with %q", ErrInvalid, owner, repo, label, fingerprintLabelPrefix)
	}

	api, err := apiURL(baseURL)
	if err != nil {
		return nil, err
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: defaultTimeout}
	}
	hc := *httpClient
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &tokenTransport{base: base, host: api.Host, token: token, name: tokenName}
	client := github.NewClient(&hc)
	client.BaseURL = api
	client.UserAgent = userAgent

	return &GitHub{
		client:    client,
		owner:     owner,
		repo:      repo,
		label:     label,
		tokenName: tokenName,
		perPage:   maxPerPage,
		now:       time.Now,
		filing:    make(chan struct{}, 1),
	}, nil
}

// FindOpen returns the oldest open issue carrying fingerprint, or nil.
func (g *GitHub) FindOpen(ctx context.Context, fingerprint string) (*Ticket, error) {
	if err := validateFingerprint(fingerprint); err != nil {
		return nil, err
	}
	var found *Ticket
	err := g.eachOpen(ctx, "find issue "+strconv.Quote(fingerprint), []string{g.label, fingerprintLabel(fingerprint)},
		func(is *github.Issue) bool {
			if fingerprintOf(is.GetBody()) != fingerprint {
				return true // a hash collision, or a marker edited away
			}
			tk := g.ticket(is)
			found = &tk
			return false
		})
	return found, err
}

// ListOpen lists the open issues carrying the managed label and all of
// labels, oldest first.
func (g *GitHub) ListOpen(ctx context.Context, labels ...string) ([]Ticket, error) {
	if err := validateLabels(labels); err != nil {
		return nil, err
	}
	var out []Ticket
	err := g.eachOpen(ctx, "list open issues", append([]string{g.label}, labels...), func(is *github.Issue) bool {
		out = append(out, g.ticket(is))
		return true
	})
	return out, err
}

// Create files t as an issue, or returns the open issue that already
// carries its fingerprint.
func (g *GitHub) Create(ctx context.Context, t NewTicket) (Ticket, error) {
	return g.filer().Create(ctx, t)
}

// Comment adds body as a comment on issue id ("12" or "#12").
func (g *GitHub) Comment(ctx context.Context, id, body string) error {
	if err := validateComment(body); err != nil {
		return err
	}
	n, err := g.number(id)
	if err != nil {
		return err
	}
	if _, _, err := g.client.Issues.CreateComment(ctx, g.owner, g.repo, n, &github.IssueComment{Body: &body}); err != nil {
		return g.classify(err, "comment on issue", n)
	}
	return g.Crash.reached(AtComment)
}

// Close comments (unless comment is empty), then closes issue id as
// completed. The comment goes first: if it fails, the issue stays open
// rather than closing without its explanation.
func (g *GitHub) Close(ctx context.Context, id, comment string) error {
	n, err := g.number(id)
	if err != nil {
		return err
	}
	if strings.TrimSpace(comment) != "" {
		if err := g.Comment(ctx, id, comment); err != nil {
			return err
		}
	}
	req := &github.IssueRequest{State: github.String(StateClosed), StateReason: github.String("completed")}
	if _, _, err := g.client.Issues.Edit(ctx, g.owner, g.repo, n, req); err != nil {
		return g.classify(err, "close issue", n)
	}
	return g.Crash.reached(AtClose)
}

// HasMarker reports whether issue id's body or one of its comments
// carries key's marker. It reads the comments newest page first: a retry
// looks for what it wrote moments ago.
func (g *GitHub) HasMarker(ctx context.Context, id, key string) (bool, error) {
	n, err := g.number(id)
	if err != nil {
		return false, err
	}
	marker := Marker(key)
	is, _, err := g.client.Issues.Get(ctx, g.owner, g.repo, n)
	if err != nil {
		return false, g.classify(err, "read issue", n)
	}
	if strings.Contains(is.GetBody(), marker) {
		return true, nil
	}
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: g.perPage}}
	for {
		comments, resp, err := g.client.Issues.ListComments(ctx, g.owner, g.repo, n, opts)
		if err != nil {
			return false, g.classify(err, "list comments of issue", n)
		}
		for _, c := range comments {
			if strings.Contains(c.GetBody(), marker) {
				return true, nil
			}
		}
		if resp.NextPage == 0 {
			return false, nil
		}
		opts.Page = resp.NextPage
	}
}

func (g *GitHub) fileOrComment(ctx context.Context, t NewTicket, comment string) (Ticket, bool, error) {
	return g.filer().fileOrComment(ctx, t, comment)
}

func (g *GitHub) filer() lockedFiler {
	return lockedFiler{steps: filingSteps{g.FindOpen, g.Comment, g.create}, lock: g.serialise}
}

// serialise runs fn while no other Create or FileOrComment of this GitHub
// runs: the in-process half of "never a duplicate".
func (g *GitHub) serialise(ctx context.Context, fn func() error) error {
	select {
	case g.filing <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("GitHub %s: wait to file: %w", g.where(), ctx.Err())
	}
	defer func() { <-g.filing }()
	return fn()
}

// create files t as a new issue, whatever is open.
func (g *GitHub) create(ctx context.Context, t NewTicket) (Ticket, error) {
	fpLabel := fingerprintLabel(t.Fingerprint)
	labels := []string{g.label, fpLabel}
	for _, l := range t.Labels {
		if !hasLabels(labels, []string{l}) {
			labels = append(labels, l)
		}
	}
	body := strings.TrimSpace(t.Body) + "\n\n" + markerPrefix + t.Fingerprint + markerSuffix + "\n"
	is, _, err := g.client.Issues.Create(ctx, g.owner, g.repo, &github.IssueRequest{Title: &t.Title, Body: &body, Labels: &labels})
	if err != nil {
		return Ticket{}, g.classify(err, "create issue "+strconv.Quote(t.Fingerprint)+" in", 0)
	}
	if err := g.Crash.reached(AtCreate); err != nil {
		return Ticket{}, err
	}
	// GitHub silently drops the labels of a new issue when the token may
	// not set them. Without them FindOpen never finds the issue again and
	// every later failure files another: stop here, loudly.
	have := make([]string, 0, len(is.Labels))
	for _, l := range is.Labels {
		have = append(have, l.GetName())
	}
	if !hasLabels(have, labels[:2]) {
		return Ticket{}, fmt.Errorf("%w: GitHub created %s without the labels %q and %q: the token in $%s needs write access to the issues of %s",
			ErrAuth, is.GetHTMLURL(), g.label, fpLabel, g.tokenName, g.where())
	}
	return g.ticket(is), nil
}

// eachOpen calls fn for every open issue (not pull request) carrying all of
// labels, oldest first, following the pages until fn returns false.
func (g *GitHub) eachOpen(ctx context.Context, op string, labels []string, fn func(*github.Issue) bool) error {
	opts := &github.IssueListByRepoOptions{
		State:       StateOpen,
		Labels:      labels,
		Sort:        "created",
		Direction:   "asc",
		ListOptions: github.ListOptions{PerPage: g.perPage},
	}
	for {
		issues, resp, err := g.client.Issues.ListByRepo(ctx, g.owner, g.repo, opts)
		if err != nil {
			return g.classify(err, op+" in", 0)
		}
		for _, is := range issues {
			if is.IsPullRequest() {
				continue // the issues API lists pull requests too
			}
			if !fn(is) {
				return nil
			}
		}
		if resp.NextPage == 0 {
			return nil
		}
		opts.Page = resp.NextPage
	}
}

func (g *GitHub) ticket(is *github.Issue) Ticket {
	var labels []string
	for _, l := range is.Labels {
		if !strings.HasPrefix(l.GetName(), fingerprintLabelPrefix) { // ours, not the caller's
			labels = append(labels, l.GetName())
		}
	}
	return Ticket{
		ID:          strconv.Itoa(is.GetNumber()),
		Fingerprint: fingerprintOf(is.GetBody()),
		Title:       is.GetTitle(),
		State:       is.GetState(),
		Labels:      labels,
		URL:         is.GetHTMLURL(),
		Created:     is.GetCreatedAt().Time,
	}
}

func (g *GitHub) number(id string) (int, error) {
	m := issueNumberRE.FindStringSubmatch(id)
	if m == nil {
		return 0, fmt.Errorf("%w: GitHub issue ID %q in %s: want a number", ErrInvalid, id, g.where())
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, fmt.Errorf("%w: GitHub issue ID %q in %s: %w", ErrInvalid, id, g.where(), err)
	}
	return n, nil
}

func (g *GitHub) where() string { return g.owner + "/" + g.repo }

// fingerprintLabel is the label naming fingerprint: a short hash, since
// labels are limited to 50 characters.
func fingerprintLabel(fingerprint string) string {
	sum := sha256.Sum256([]byte(fingerprint))
	return fingerprintLabelPrefix + hex.EncodeToString(sum[:])[:fingerprintHashLen]
}

// fingerprintOf reads the marker create puts at the end of a body; the
// last one wins, should a human quote an older one above it.
func fingerprintOf(body string) string {
	i := strings.LastIndex(body, markerPrefix)
	if i < 0 {
		return ""
	}
	fp, _, ok := strings.Cut(body[i+len(markerPrefix):], markerSuffix)
	if !ok || strings.ContainsAny(fp, "\r\n") {
		return ""
	}
	return fp
}

// tokenTransport sets the Authorization header on each request to the API
// host, reading the token anew every time. Keeping the token out of the
// client means it never lands in a struct that is logged or serialised.
type tokenTransport struct {
	base  http.RoundTripper
	host  string // the API host: a redirect elsewhere gets no token
	token func() (string, error)
	name  string // where the token comes from, for messages
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.host {
		return t.base.RoundTrip(req)
	}
	tok, err := t.token()
	if err == nil && strings.TrimSpace(tok) == "" {
		err = errors.New("empty")
	}
	if err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip must close the body, even on error
		}
		return nil, fmt.Errorf("%w: GitHub token $%s: %w", ErrAuth, t.name, err)
	}
	req = req.Clone(req.Context()) // a RoundTripper must not modify its request
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
	return t.base.RoundTrip(req)
}

// apiURL parses the API root NewGitHub was given.
func apiURL(baseURL string) (*url.URL, error) {
	if baseURL == "" {
		baseURL = "https://api.github.com/"
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: GitHub API URL %q: want https://host/api/v3/", ErrInvalid, baseURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/" // go-github resolves paths against it
	}
	return u, nil
}
