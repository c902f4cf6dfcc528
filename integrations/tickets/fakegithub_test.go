package tickets

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGitHub is an httptest server following the documented REST API
// (docs.github.com/rest/issues) for the endpoints the GitHub tracker uses,
// served under /api/v3/ as GitHub Enterprise Server does:
//
//   - GET   /repos/{owner}/{repo}/issues: state, labels (comma-separated,
//     all must match, case-insensitive), sort=created, direction,
//     per_page (default 30, max 100), page; Link header with first, prev,
//     next and last; pull requests listed too, with a "pull_request" key.
//   - POST  /repos/{owner}/{repo}/issues: 201; missing labels are created;
//     422 Validation Failed for a missing title or an over-long label.
//   - PATCH /repos/{owner}/{repo}/issues/{number}: state, state_reason.
//   - POST  /repos/{owner}/{repo}/issues/{number}/comments: 201.
//   - GET   /repos/{owner}/{repo}/issues/{number}: the issue, or 404.
//   - GET   /repos/{owner}/{repo}/issues/{number}/comments: oldest first,
//     per_page (default 30, max 100), page, Link header.
//
// Every response carries the x-ratelimit-* headers. A wrong token gets 401
// Bad credentials; another repository, 404 Not Found. Tests inject rate
// limits and other failures through fault.
type fakeGitHub struct {
	t      testing.TB
	srv    *httptest.Server
	owner  string
	repo   string
	tokens []string // accepted bearer tokens

	mu         sync.Mutex
	issues     []*fakeIssue // number = index + 1
	requests   map[string]int
	authSeen   []string                                          // Authorization headers, in order
	fault      func(w http.ResponseWriter, r *http.Request) bool // true: handled, skip the normal route
	dropLabels bool                                              // as for a token without push access
	clock      time.Time
}

type fakeIssue struct {
	Number      int
	Title, Body string
	State       string
	StateReason string
	Labels      []string
	PullRequest bool
	Created     time.Time
	Comments    []string
}

const fakeAPIPrefix = "/api/v3"

func newFakeGitHub(t testing.TB, owner, repo string, tokens ...string) *fakeGitHub {
	f := &fakeGitHub{
		t: t, owner: owner, repo: repo, tokens: tokens,
		requests: map[string]int{},
		clock:    time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC),
	}
	mux := http.NewServeMux()
	base := fakeAPIPrefix + "/repos/{owner}/{repo}/issues"
	mux.HandleFunc("GET "+base, f.listIssues)
	mux.HandleFunc("POST "+base, f.createIssue)
	mux.HandleFunc("PATCH "+base+"/{number}", f.editIssue)
	mux.HandleFunc("POST "+base+"/{number}/comments", f.createComment)
	mux.HandleFunc("GET "+base+"/{number}", f.getIssue)
	mux.HandleFunc("GET "+base+"/{number}/comments", f.listComments)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/search/") {
			t.Errorf("the Search API was used: %s %s", r.Method, r.URL)
		}
		f.writeError(w, http.StatusNotFound, "Not Found")
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests[r.Method+" "+routeOf(r.URL.Path)]++
		f.authSeen = append(f.authSeen, r.Header.Get("Authorization"))
		fault := f.fault
		f.mu.Unlock()
		f.rateHeaders(w)
		if fault != nil && fault(w, r) {
			return
		}
		if !f.authorized(r) {
			f.writeError(w, http.StatusUnauthorized, "Bad credentials")
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// apiURL is what NewGitHub takes as baseURL.
func (f *fakeGitHub) apiURL() string { return f.srv.URL + fakeAPIPrefix + "/" }

// routeOf collapses issue numbers so request counts group by endpoint.
func routeOf(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if _, err := strconv.Atoi(s); err == nil {
			parts[i] = "N"
		}
	}
	return strings.Join(parts, "/")
}

func (f *fakeGitHub) count(method, path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[method+" "+fakeAPIPrefix+path]
}

func (f *fakeGitHub) totalRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.requests {
		n += c
	}
	return n
}

func (f *fakeGitHub) auths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.authSeen)
}

func (f *fakeGitHub) setFault(fn func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fn
}

// addIssue stores an issue (or pull request) directly, as if filed by a
// human.
func (f *fakeGitHub) addIssue(is fakeIssue) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.add(is)
}

func (f *fakeGitHub) add(is fakeIssue) int {
	is.Number = len(f.issues) + 1
	if is.State == "" {
		is.State = "open"
	}
	f.clock = f.clock.Add(time.Minute)
	is.Created = f.clock
	f.issues = append(f.issues, &is)
	return is.Number
}

func (f *fakeGitHub) issue(n int) fakeIssue {
	f.mu.Lock()
	defer f.mu.Unlock()
	is := *f.issues[n-1]
	is.Comments = slices.Clone(is.Comments)
	return is
}

func (f *fakeGitHub) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	for _, tok := range f.tokens {
		// GitHub accepts both schemes for a personal access token.
		if h == "Bearer "+tok || h == "token "+tok {
			return true
		}
	}
	return false
}

// rateHeaders sets the primary rate-limit headers GitHub sends on every
// response. They say nothing is exhausted: tests that want a limit inject
// it through fault.
func (f *fakeGitHub) rateHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "4999")
	h.Set("X-RateLimit-Used", "1")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(f.clock.Add(time.Hour).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
}

func (f *fakeGitHub) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		f.t.Errorf("fake GitHub: encode: %v", err)
	}
}

func (f *fakeGitHub) writeError(w http.ResponseWriter, code int, msg string, errs ...map[string]string) {
	body := map[string]any{"message": msg, "documentation_url": "https://docs.github.com/rest", "status": strconv.Itoa(code)}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	f.writeJSON(w, code, body)
}

// repoOK answers 404 for any repository but ours, as GitHub does for a
// repository that does not exist or that the token cannot see.
func (f *fakeGitHub) repoOK(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("owner") != f.owner || r.PathValue("repo") != f.repo {
		f.writeError(w, http.StatusNotFound, "Not Found")
		return false
	}
	return true
}

func (f *fakeGitHub) issueJSON(is *fakeIssue) map[string]any {
	html := fmt.Sprintf("https://github.example/%s/%s/issues/%d", f.owner, f.repo, is.Number)
	labels := []map[string]any{}
	for i, l := range is.Labels {
		labels = append(labels, map[string]any{"id": i + 1, "name": l, "color": "ededed", "default": false})
	}
	j := map[string]any{
		"id":         1000 + is.Number,
		"number":     is.Number,
		"url":        f.srv.URL + fakeAPIPrefix + fmt.Sprintf("/repos/%s/%s/issues/%d", f.owner, f.repo, is.Number),
		"html_url":   html,
		"title":      is.Title,
		"body":       is.Body,
		"state":      is.State,
		"labels":     labels,
		"comments":   len(is.Comments),
		"created_at": is.Created.Format(time.RFC3339),
		"updated_at": is.Created.Format(time.RFC3339),
		"user":       map[string]any{"login": "osflow-bot", "id": 1},
	}
	if is.StateReason != "" {
		j["state_reason"] = is.StateReason
	}
	if is.PullRequest {
		j["pull_request"] = map[string]any{"url": html, "html_url": strings.Replace(html, "/issues/", "/pull/", 1)}
	}
	return j
}

func (f *fakeGitHub) listIssues(w http.ResponseWriter, r *http.Request) {
	if !f.repoOK(w, r) {
		return
	}
	q := r.URL.Query()
	state := cmp.Or(q.Get("state"), "open")
	var want []string
	if l := q.Get("labels"); l != "" {
		want = strings.Split(l, ",")
	}
	perPage, page := 30, 1
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
		perPage = min(v, 100)
	}
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		page = v
	}
	if s := q.Get("sort"); s != "" && s != "created" {
		f.t.Errorf("fake GitHub: sort=%s not implemented", s)
	}

	f.mu.Lock()
	var match []map[string]any
	for _, is := range f.issues {
		if (state == "all" || is.State == state) && hasLabels(is.Labels, want) {
			match = append(match, f.issueJSON(is))
		}
	}
	f.mu.Unlock()
	if q.Get("direction") != "asc" { // GitHub's default: newest first
		slices.Reverse(match)
	}

	last := max(1, (len(match)+perPage-1)/perPage)
	if links := pageLinks(r, page, last); links != "" {
		w.Header().Set("Link", links)
	}
	lo, hi := min(len(match), (page-1)*perPage), min(len(match), page*perPage)
	f.writeJSON(w, http.StatusOK, append([]map[string]any{}, match[lo:hi]...))
}

// pageLinks builds GitHub's Link header: absolute URLs of the same query
// with another page, rel first/prev when not on the first page, next/last
// when not on the last.
func pageLinks(r *http.Request, page, last int) string {
	link := func(p int, rel string) string {
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(p))
		u.RawQuery = q.Encode()
		return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(page-1, "prev"), link(1, "first"))
	}
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	return strings.Join(links, ", ")
}

func (f *fakeGitHub) createIssue(w http.ResponseWriter, r *http.Request) {
	if !f.repoOK(w, r) {
		return
	}
	var req struct {
		Title  string   `json:"title"`
		Body   string   `json:"body"`
		Labels []string `json:"labels"`
	}
	if !f.decode(w, r, &req) {
		return
	}
	if req.Title == "" {
		f.writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			map[string]string{"resource": "Issue", "code": "missing_field", "field": "title"})
		return
	}
	for _, l := range req.Labels {
		if len(l) > 50 {
			f.writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
				map[string]string{"resource": "Label", "code": "invalid", "field": "name"})
			return
		}
	}
	f.mu.Lock()
	if f.dropLabels {
		req.Labels = nil // "Labels are silently dropped otherwise."
	}
	n := f.add(fakeIssue{Title: req.Title, Body: req.Body, Labels: req.Labels})
	j := f.issueJSON(f.issues[n-1])
	f.mu.Unlock()
	w.Header().Set("Location", j["url"].(string))
	f.writeJSON(w, http.StatusCreated, j)
}

// decode reads the JSON request body into v, or answers 400 as GitHub
// does.
func (f *fakeGitHub) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		f.writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

// lookup calls fn, under the lock, with the issue the request's {number}
// names, or answers 404.
func (f *fakeGitHub) lookup(w http.ResponseWriter, r *http.Request, fn func(is *fakeIssue)) {
	if !f.repoOK(w, r) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := strconv.Atoi(r.PathValue("number"))
	if err != nil || n < 1 || n > len(f.issues) {
		f.writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	fn(f.issues[n-1])
}

func (f *fakeGitHub) getIssue(w http.ResponseWriter, r *http.Request) {
	f.lookup(w, r, func(is *fakeIssue) { f.writeJSON(w, http.StatusOK, f.issueJSON(is)) })
}

func (f *fakeGitHub) listComments(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	perPage, page := 30, 1
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
		perPage = min(v, 100)
	}
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		page = v
	}
	f.lookup(w, r, func(is *fakeIssue) {
		var out []map[string]any
		for i, body := range is.Comments {
			out = append(out, map[string]any{"id": 5001 + i, "body": body})
		}
		last := max(1, (len(out)+perPage-1)/perPage)
		if links := pageLinks(r, page, last); links != "" {
			w.Header().Set("Link", links)
		}
		lo, hi := min(len(out), (page-1)*perPage), min(len(out), page*perPage)
		f.writeJSON(w, http.StatusOK, append([]map[string]any{}, out[lo:hi]...))
	})
}

// withIssue decodes the request into req and calls fn, under the lock, with
// the issue the request's {number} names, or answers 404.
func (f *fakeGitHub) withIssue(w http.ResponseWriter, r *http.Request, req any, fn func(is *fakeIssue)) {
	if !f.decode(w, r, req) {
		return
	}
	f.lookup(w, r, fn)
}

func (f *fakeGitHub) editIssue(w http.ResponseWriter, r *http.Request) {
	var req struct {
		State       *string `json:"state"`
		StateReason *string `json:"state_reason"`
	}
	f.withIssue(w, r, &req, func(is *fakeIssue) {
		if req.State != nil && *req.State != "open" && *req.State != "closed" {
			f.writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
				map[string]string{"resource": "Issue", "code": "invalid", "field": "state"})
			return
		}
		if req.State != nil {
			is.State = *req.State
		}
		if req.StateReason != nil {
			is.StateReason = *req.StateReason
		}
		f.writeJSON(w, http.StatusOK, f.issueJSON(is))
	})
}

func (f *fakeGitHub) createComment(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Body string `json:"body"`
	}
	f.withIssue(w, r, &req, func(is *fakeIssue) {
		if req.Body == "" {
			f.writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
				map[string]string{"resource": "IssueComment", "code": "missing_field", "field": "body"})
			return
		}
		is.Comments = append(is.Comments, req.Body)
		id := 5000 + len(is.Comments)
		f.writeJSON(w, http.StatusCreated, map[string]any{
			"id": id, "body": req.Body,
			"html_url": fmt.Sprintf("https://github.example/%s/%s/issues/%d#issuecomment-%d", f.owner, f.repo, is.Number, id),
		})
	})
}
