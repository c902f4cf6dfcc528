package tickets

import (
	"cmp"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testToken = "s3cret-token-value"

// testNow is the clock the GitHub tracker reads in tests. It lies in the
// past, so go-github's own "rate limit still in force" check (which reads
// the real clock) never answers for the server.
var testNow = time.Unix(1_700_000_000, 0)

// newTestGitHub builds a tracker for fake's acme/<repo> with a pinned clock.
func newTestGitHub(t *testing.T, fake *fakeGitHub, repo string) *GitHub {
	t.Helper()
	g, err := NewGitHub(fake.srv.Client(), fake.apiURL(), "acme", repo,
		func() (string, error) { return testToken, nil }, "GITHUB_TOKEN", "")
	require.NoError(t, err)
	g.now = func() time.Time { return testNow }
	return g
}

func TestGitHubFileOrCommentTwiceCreatesOneIssueAndOneComment(t *testing.T) {
	fake := newFakeGitHub(t, "acme", "ops", testToken)
	g := newTestGitHub(t, fake, "ops")

	tk, created, err := FileOrComment(t.Context(), g, nt("repoclosure/baseos", "testing"), "unused")
	require.NoError(t, err)
	require.True(t, created)
	again, created, err := FileOrComment(t.Context(), g, nt("repoclosure/baseos", "testing"), "still failing on cycle 2")
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, tk, again)

	require.Equal(t, 2, fake.count("GET", "/repos/acme/ops/issues"), "one lookup per call")
	require.Equal(t, 1, fake.count("POST", "/repos/acme/ops/issues"), "one issue")
	require.Equal(t, 1, fake.count("POST", "/repos/acme/ops/issues/N/comments"), "one comment")
	require.Equal(t, 4, fake.totalRequests())

	is := fake.issue(1)
	require.Equal(t, []string{"still failing on cycle 2"}, is.Comments)
	require.Equal(t, []string{"osflow", fingerprintLabel("repoclosure/baseos"), "testing"}, is.Labels)
	require.True(t, strings.HasSuffix(is.Body, "\n\n<!-- osflow-fingerprint: repoclosure/baseos -->\n"), is.Body)
	require.Equal(t, "1", tk.ID)
	require.Equal(t, "https://github.example/acme/ops/issues/1", tk.URL)
	require.Equal(t, []string{"osflow", "testing"}, tk.Labels, "the fingerprint label is ours, not the caller's")
}

func TestGitHubFingerprintLabelFitsGitHubLimit(t *testing.T) {
	l := fingerprintLabel(strings.Repeat("a very long fingerprint/", 100))
	require.LessOrEqual(t, len(l), maxLabelLen)
	require.Regexp(t, `^osflow-fp:[0-9a-f]{16}$`, l)
	require.NotEqual(t, fingerprintLabel("a"), fingerprintLabel("b"))
}

func TestGitHubFindOpenFollowsPagesSkipsPullRequestsAndChecksMarker(t *testing.T) {
	fake := newFakeGitHub(t, "acme", "ops", testToken)
	g := newTestGitHub(t, fake, "ops")
	g.perPage = 2
	const fp = "install/kernel"
	labels := []string{"osflow", fingerprintLabel(fp)}
	marker := "\n\n<!-- osflow-fingerprint: " + fp + " -->\n"
	fake.addIssue(fakeIssue{Title: "PR with our labels", Body: marker, Labels: labels, PullRequest: true})
	fake.addIssue(fakeIssue{Title: "closed", Body: marker, Labels: labels, State: "closed"})
	fake.addIssue(fakeIssue{Title: "marker edited away", Body: "no marker", Labels: labels})
	fake.addIssue(fakeIssue{Title: "other fingerprint, same hash", Body: "<!-- osflow-fingerprint: other -->", Labels: labels})
	fake.addIssue(fakeIssue{Title: "not managed", Body: marker, Labels: []string{fingerprintLabel(fp)}})
	fake.addIssue(fakeIssue{Title: "another PR", Body: marker, Labels: labels, PullRequest: true})
	fake.addIssue(fakeIssue{Title: "unrelated", Labels: []string{"osflow"}})
	want := fake.addIssue(fakeIssue{Title: "the one", Body: "quoting <!-- osflow-fingerprint: old -->" + marker, Labels: append(labels, "testing")})
	fake.addIssue(fakeIssue{Title: "a newer duplicate", Body: marker, Labels: labels})

	found, err := g.FindOpen(t.Context(), fp)
	require.NoError(t, err)
	require.NotNil(t, found)
	require.Equal(t, strconv.Itoa(want), found.ID, "the oldest open issue with the marker")
	require.Equal(t, "the one", found.Title)
	require.Equal(t, fp, found.Fingerprint)
	// Listed, oldest first, in pages of two: [PR, marker edited away],
	// [other fingerprint, PR], [the one, newer duplicate]: three pages.
	require.Equal(t, 3, fake.count("GET", "/repos/acme/ops/issues"))

	missing, err := g.FindOpen(t.Context(), "no/such")
	require.NoError(t, err)
	require.Nil(t, missing)
}

func TestGitHubListOpenFollowsEveryPage(t *testing.T) {
	fake := newFakeGitHub(t, "acme", "ops", testToken)
	g := newTestGitHub(t, fake, "ops")
	g.perPage = 3
	var want []string
	for i := range 8 {
		fake.addIssue(fakeIssue{Title: "pr", Labels: []string{"osflow", "testing"}, PullRequest: true})
		n := fake.addIssue(fakeIssue{Title: "issue " + strconv.Itoa(i), Labels: []string{"osflow", "testing"}})
		want = append(want, strconv.Itoa(n))
		fake.addIssue(fakeIssue{Title: "someone else's", Labels: []string{"testing"}})
	}
	open, err := g.ListOpen(t.Context(), "testing")
	require.NoError(t, err)
	var got []string
	for _, tk := range open {
		got = append(got, tk.ID)
	}
	require.Equal(t, want, got)
	require.Equal(t, 6, fake.count("GET", "/repos/acme/ops/issues"), "16 matches (8 of them PRs) in pages of 3")
}

func TestGitHubCloseCommentsThenClosesAsCompleted(t *testing.T) {
	fake := newFakeGitHub(t, "acme", "ops", testToken)
	g := newTestGitHub(t, fake, "ops")
	tk, err := g.Create(t.Context(), nt("fp"))
	require.NoError(t, err)

	var mu sync.Mutex
	var order []string
	fake.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, r.Method)
		return false
	})
	require.NoError(t, g.Close(t.Context(), "#"+tk.ID, "fixed in release 7"))
	mu.Lock()
	require.Equal(t, []string{"POST", "PATCH"}, order)
	mu.Unlock()
	is := fake.issue(1)
	require.Equal(t, "closed", is.State)
	require.Equal(t, "completed", is.StateReason)
	require.Equal(t, []string{"fixed in release 7"}, is.Comments)
}

func TestGitHubCloseLeavesTheIssueOpenWhenTheCommentFails(t *testing.T) {
	fake := newFakeGitHub(t, "acme", "ops", testToken)
	g := newTestGitHub(t, fake, "ops")
	tk, err := g.Create(t.Context(), nt("fp"))
	require.NoError(t, err)
	fake.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPatch {
			t.Error("closed although the comment failed")
		}
		fake.writeError(w, http.StatusBadGateway, "Server Error")
		return true
	})
	err = g.Close(t.Context(), tk.ID, "fixed")
	require.Error(t, err)
	require.True(t, IsRetryable(err))
	require.Equal(t, "open", fake.issue(1).State)
}

func TestGitHubCreateRefusesIssuesWhoseLabelsWereDropped(t *testing.T) {
	fake := newFakeGitHub(t, "acme", "ops", testToken)
	fake.mu.Lock()
	fake.dropLabels = true // as GitHub does for a token without push access
	fake.mu.Unlock()
	g := newTestGitHub(t, fake, "ops")
	_, err := g.Create(t.Context(), nt("fp"))
	require.ErrorIs(t, err, ErrAuth)
	require.ErrorContains(t, err, "https://github.example/acme/ops/issues/1")
	require.ErrorContains(t, err, "write access to the issues of acme/ops")
	require.False(t, IsRetryable(err), "a retry would file a duplicate")
}

func TestGitHubSerialisesFilingInProcess(t *testing.T) {
	fake := newFakeGitHub(t, "acme", "ops", testToken)
	g := newTestGitHub(t, fake, "ops")
	const n = 12
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, created[i], errs[i] = FileOrComment(t.Context(), g, nt("fp"), "caller "+strconv.Itoa(i))
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	creators := 0
	for _, c := range created {
		if c {
			creators++
		}
	}
	require.Equal(t, 1, creators)
	require.Equal(t, 1, fake.count("POST", "/repos/acme/ops/issues"))
	require.Len(t, fake.issue(1).Comments, 11)
}

func TestGitHubReadsTheTokenPerRequestAndSendsItOnlyToTheAPIHost(t *testing.T) {
	fake := newFakeGitHub(t, "acme", "ops", "old-token", "new-token")
	var mu sync.Mutex
	var elsewhere []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		elsewhere = append(elsewhere, r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("[]"))
	}))
	t.Cleanup(other.Close)

	var current atomic.Value
	current.Store("old-token")
	var reads atomic.Int32
	g, err := NewGitHub(fake.srv.Client(), fake.apiURL(), "acme", "ops", func() (string, error) {
		reads.Add(1)
		return current.Load().(string), nil
	}, "OSFLOW_GH", "")
	require.NoError(t, err)

	_, err = g.ListOpen(t.Context())
	require.NoError(t, err)
	current.Store("new-token") // rotated: no restart needed
	_, err = g.ListOpen(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{"Bearer old-token", "Bearer new-token"}, fake.auths())
	require.EqualValues(t, 2, reads.Load())

	// GitHub answers 301 for a renamed repository; a redirect to another
	// host must not carry the token.
	fake.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusMovedPermanently)
		return true
	})
	_, err = g.ListOpen(t.Context())
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{""}, elsewhere)
}

func TestGitHubErrors(t *testing.T) {
	reset := strconv.FormatInt(testNow.Add(90*time.Second).Unix(), 10)
	respond := func(code int, headers map[string]string, body string) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			for k, v := range headers {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(code)
			_, _ = w.Write([]byte(body))
			return true
		}
	}
	const (
		primaryBody   = `{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-rate-limit"}`
		secondaryBody = `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`
	)
	type call func(t *testing.T, g *GitHub) error
	find := func(t *testing.T, g *GitHub) error { _, err := g.FindOpen(t.Context(), "fp"); return err }
	create := func(t *testing.T, g *GitHub) error { _, err := g.Create(t.Context(), nt("fp")); return err }
	comment := func(t *testing.T, g *GitHub) error { return g.Comment(t.Context(), "999", "c") }

	tests := []struct {
		name      string
		call      call
		repo      string // default "ops"
		token     func() (string, error)
		fault     func(w http.ResponseWriter, r *http.Request) bool
		class     error         // ErrAuth, ErrNotFound, ErrInvalid, or nil
		rateLimit time.Duration // > 0: want *RateLimitError with this RetryAfter
		retryable bool
		contains  []string
		requests  int // -1: don't check
	}{
		{name: "401 bad credentials", call: find, token: constToken("wrong"), class: ErrAuth,
			contains: []string{"GitHub refused the token in $GITHUB_TOKEN for acme/ops", "401 Bad credentials"}, requests: 1},
		{name: "token source fails", call: find, token: func() (string, error) { return "", errors.New("$GITHUB_TOKEN is not set") },
			class: ErrAuth, contains: []string{"GitHub token $GITHUB_TOKEN", "not set"}, requests: 0},
		{name: "empty token", call: create, token: constToken(" \n"), class: ErrAuth, requests: 0},
		{name: "404 repository", call: find, repo: "missing", class: ErrNotFound,
			contains: []string{"GitHub repository acme/missing", "cannot see it", "scope"}, requests: 1},
		{name: "404 repository on create", call: create, repo: "missing", class: ErrNotFound, contains: []string{"acme/missing"}, requests: 1},
		{name: "404 issue", call: comment, class: ErrNotFound, contains: []string{"acme/ops#999"}, requests: 1},
		{name: "410 issues disabled", call: find, class: ErrNotFound, contains: []string{"issues are disabled"}, requests: 1,
			fault: respond(http.StatusGone, nil, `{"message":"Issues are disabled for this repo","documentation_url":"https://docs.github.com/rest/issues/issues#list-repository-issues","status":"410"}`)},
		{name: "403 no permission", call: create, class: ErrAuth, contains: []string{"needs read and write access to issues"}, requests: 1,
			fault: respond(http.StatusForbidden, nil, `{"message":"Resource not accessible by personal access token","documentation_url":"https://docs.github.com/rest/issues/issues#create-an-issue","status":"403"}`)},
		{name: "422 validation failed", call: create, class: ErrInvalid, contains: []string{"422 Validation Failed"}, requests: 2,
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				return r.Method == http.MethodPost && respond(http.StatusUnprocessableEntity, nil,
					`{"message":"Validation Failed","errors":[{"resource":"Issue","code":"invalid","field":"labels"}],"documentation_url":"https://docs.github.com/rest/issues/issues#create-an-issue","status":"422"}`)(w, r)
			}},
		{name: "403 primary rate limit", call: find, rateLimit: 90 * time.Second, retryable: true, requests: 1,
			fault: respond(http.StatusForbidden, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}, primaryBody)},
		{name: "429 primary rate limit", call: find, rateLimit: 90 * time.Second, retryable: true, requests: 1,
			fault: respond(http.StatusTooManyRequests, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}, primaryBody)},
		{name: "403 secondary rate limit with Retry-After", call: create, rateLimit: 30 * time.Second, retryable: true, requests: 1,
			fault: respond(http.StatusForbidden, map[string]string{"Retry-After": "30"}, secondaryBody)},
		{name: "403 secondary rate limit without Retry-After", call: create, rateLimit: time.Minute, retryable: true, requests: 1,
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Del("X-RateLimit-Reset") // as GitHub may: then wait a minute
				return respond(http.StatusForbidden, nil, secondaryBody)(w, r)
			}},
		{name: "429 with Retry-After", call: comment, rateLimit: 17 * time.Second, retryable: true, requests: 1,
			fault: respond(http.StatusTooManyRequests, map[string]string{"Retry-After": "17"}, secondaryBody)},
		{name: "429 with an HTTP-date Retry-After", call: comment, rateLimit: 2 * time.Minute, retryable: true, requests: 1,
			fault: respond(http.StatusTooManyRequests, map[string]string{"Retry-After": testNow.Add(2 * time.Minute).UTC().Format(http.TimeFormat)}, "")},
		{name: "429 without Retry-After, requests left", call: find, rateLimit: time.Minute, retryable: true, requests: 1,
			fault: respond(http.StatusTooManyRequests, nil, `{"message":"too many requests"}`)},
		{name: "403 rate limit without documentation URL", call: find, rateLimit: 45 * time.Second, retryable: true, requests: 1,
			fault: respond(http.StatusForbidden, map[string]string{"Retry-After": "45"}, `{"message":"You have exceeded a secondary rate limit"}`)},
		{name: "500", call: find, retryable: true, contains: []string{"find issue \"fp\" in acme/ops", "500"}, requests: 1,
			fault: respond(http.StatusInternalServerError, nil, `{"message":"Server Error"}`)},
		{name: "502 HTML", call: comment, retryable: true, requests: 1,
			fault: respond(http.StatusBadGateway, map[string]string{"Content-Type": "text/html"}, "<html>bad gateway</html>")},
		{name: "transport error", call: find, retryable: true, requests: 1,
			fault: func(w http.ResponseWriter, r *http.Request) bool {
				if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
					conn.Close() // no response at all
				}
				return true
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeGitHub(t, "acme", "ops", testToken)
			fake.setFault(tt.fault)
			tok := tt.token
			if tok == nil {
				tok = constToken(testToken)
			}
			g, err := NewGitHub(fake.srv.Client(), fake.apiURL(), "acme", cmp.Or(tt.repo, "ops"), tok, "GITHUB_TOKEN", "")
			require.NoError(t, err)
			g.now = func() time.Time { return testNow }

			err = tt.call(t, g)
			require.Error(t, err)
			require.NotContains(t, err.Error(), testToken, "the token never appears in an error")
			require.Equal(t, tt.retryable, IsRetryable(err), err.Error())
			for _, class := range []error{ErrAuth, ErrNotFound, ErrInvalid} {
				require.Equal(t, class == tt.class, errors.Is(err, class), "%v: %v", class, err)
			}
			var rl *RateLimitError
			require.Equal(t, tt.rateLimit > 0, errors.As(err, &rl), err.Error())
			if tt.rateLimit > 0 {
				require.Equal(t, tt.rateLimit, rl.RetryAfter)
			}
			for _, s := range tt.contains {
				require.ErrorContains(t, err, s)
			}
			if tt.requests >= 0 {
				require.Equal(t, tt.requests, fake.totalRequests())
			}
		})
	}
}

// After a secondary rate limit, go-github refuses further calls until
// Retry-After has passed without asking the server: still a RateLimitError.
func TestGitHubSecondaryRateLimitHoldsOffLaterCalls(t *testing.T) {
	fake := newFakeGitHub(t, "acme", "ops", testToken)
	g := newTestGitHub(t, fake, "ops")
	fake.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Retry-After", "600")
		fake.writeJSON(w, http.StatusForbidden, map[string]string{
			"message":           "You have exceeded a secondary rate limit.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		})
		return true
	})
	_, err := g.ListOpen(t.Context())
	var rl *RateLimitError
	require.ErrorAs(t, err, &rl)
	fake.setFault(nil)
	_, err = g.ListOpen(t.Context())
	require.ErrorAs(t, err, &rl)
	require.Positive(t, rl.RetryAfter)
	require.Equal(t, 1, fake.totalRequests())
}

func TestNewGitHubValidates(t *testing.T) {
	tok := constToken("t")
	for name, build := range map[string]func() (*GitHub, error){
		"owner with slash": func() (*GitHub, error) { return NewGitHub(nil, "", "a/b", "c", tok, "", "") },
		"empty repo":       func() (*GitHub, error) { return NewGitHub(nil, "", "a", "", tok, "", "") },
		"dot-dot repo":     func() (*GitHub, error) { return NewGitHub(nil, "", "a", "..", tok, "", "") },
		"no token source":  func() (*GitHub, error) { return NewGitHub(nil, "", "a", "b", nil, "", "") },
		"relative URL":     func() (*GitHub, error) { return NewGitHub(nil, "api/v3", "a", "b", tok, "", "") },
		"ftp URL":          func() (*GitHub, error) { return NewGitHub(nil, "ftp://h/api/v3/", "a", "b", tok, "", "") },
		"label too long":   func() (*GitHub, error) { return NewGitHub(nil, "", "a", "b", tok, "", strings.Repeat("l", 51)) },
		"label like ours":  func() (*GitHub, error) { return NewGitHub(nil, "", "a", "b", tok, "", "osflow-fp:x") },
	} {
		_, err := build()
		require.ErrorIs(t, err, ErrInvalid, name)
	}

	g, err := NewGitHub(nil, "", "acme", "ops", tok, "", "")
	require.NoError(t, err)
	require.Equal(t, "https://api.github.com/", g.client.BaseURL.String())
	require.Equal(t, DefaultLabel, g.label)
	require.Equal(t, "GITHUB_TOKEN", g.tokenName)
	require.Equal(t, defaultTimeout, g.client.Client().Timeout, "never a client without a timeout")

	g, err = NewGitHub(nil, "https://ghe.example.com/api/v3", "acme", "ops", tok, "", "ci")
	require.NoError(t, err)
	require.Equal(t, "https://ghe.example.com/api/v3/", g.client.BaseURL.String())
	require.Equal(t, "ci", g.label)
}

func TestRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		name    string
		headers map[string]string
		want    time.Duration
	}{
		{"seconds", map[string]string{"Retry-After": "12"}, 12 * time.Second},
		{"HTTP date", map[string]string{"Retry-After": testNow.Add(time.Hour).UTC().Format(http.TimeFormat)}, time.Hour},
		{"date in the past", map[string]string{"Retry-After": testNow.Add(-time.Hour).UTC().Format(http.TimeFormat)}, 0},
		{"Retry-After beats reset", map[string]string{"Retry-After": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000100"}, 5 * time.Second},
		{"spent limit: reset", map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000100"}, 100 * time.Second},
		{"reset without remaining", map[string]string{"X-RateLimit-Reset": "1700000100"}, 100 * time.Second},
		{"requests left: a minute, not the hourly reset", map[string]string{"X-RateLimit-Remaining": "4000", "X-RateLimit-Reset": "1700003600"}, time.Minute},
		{"garbage", map[string]string{"Retry-After": "soon", "X-RateLimit-Reset": "later"}, time.Minute},
		{"nothing", nil, time.Minute},
	} {
		h := http.Header{}
		for k, v := range tt.headers {
			h.Set(k, v)
		}
		require.Equal(t, tt.want, retryAfter(h, testNow), tt.name)
	}
}

func constToken(tok string) func() (string, error) {
	return func() (string, error) { return tok, nil }
}
