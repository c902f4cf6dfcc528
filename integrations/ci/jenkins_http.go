package ci

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

const (
	// maxJSONSize bounds Jenkins' answers other than test reports.
	maxJSONSize = 1 << 20
	// maxErrorBody is how much of an error response we read: enough to
	// find "No valid crumb" in Jenkins' error page.
	maxErrorBody = 16 << 10
)

// jenkinsSession is one Run's connection to Jenkins: credentials, the
// cookie jar holding the web session the crumb is bound to, the crumb,
// and the progress so far.
type jenkinsSession struct {
	client      *http.Client
	base        string // BaseURL without the trailing slash
	job         string
	user, token string
	poll        time.Duration
	onSave      func(JenkinsProgress)

	crumbField, crumb string // empty field: CSRF protection off
	progress          JenkinsProgress
}

// session checks j and opens a session for one Run.
func (j Jenkins) session(t Target) (*jenkinsSession, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: jenkins suite %s: %s", ErrConfig, j.Name(), fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(j.BaseURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, bad("base URL %q is not an http(s) URL", j.BaseURL)
	case u.User != nil:
		// It would show up in every error message.
		return nil, bad("base URL has credentials: use User and Token")
	case j.Job == "" || strings.HasPrefix(j.Job, "/") || strings.HasSuffix(j.Job, "/") || strings.Contains(j.Job, "//"):
		return nil, bad("bad job %q, want \"name\" or \"folder/name\"", j.Job)
	}
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("jenkins suite %s: %w", j.Name(), err)
	}
	s := &jenkinsSession{
		base:   strings.TrimSuffix(j.BaseURL, "/"),
		job:    j.Job,
		user:   j.User,
		poll:   cmp.Or(j.PollInterval, 10*time.Second),
		onSave: j.Save,
	}
	if j.Token != nil {
		if s.token, err = j.Token(); err != nil {
			return nil, fmt.Errorf("%w: jenkins suite %s: API token for user %q: %w", ErrConfig, j.Name(), j.User, err)
		}
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	// A copy, so that the session cookie stays in this Run and the
	// caller's client is not changed.
	client := http.Client{Timeout: 30 * time.Second}
	if j.HTTP != nil {
		client = *j.HTTP
	}
	client.Jar = jar
	s.client = &client
	return s, nil
}

// jobURL is the job's URL, ending with "/": "folder/name" is
// BaseURL/job/folder/job/name/.
func (s *jenkinsSession) jobURL() string {
	var b strings.Builder
	b.WriteString(s.base)
	for _, part := range strings.Split(s.job, "/") {
		b.WriteString("/job/" + url.PathEscape(part))
	}
	return b.String() + "/"
}

// trigger queues a build with params and returns the queue item's URL.
func (s *jenkinsSession) trigger(ctx context.Context, params url.Values) (string, error) {
	if err := s.fetchCrumb(ctx); err != nil {
		return "", err
	}
	u := s.jobURL() + "buildWithParameters"
	for retried := false; ; retried = true {
		resp, err := s.do(ctx, http.MethodPost, u, strings.NewReader(params.Encode()))
		if err != nil {
			return "", err
		}
		body := readErrorBody(resp)
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			loc := resp.Header.Get("Location")
			q, err := s.queueURL(loc)
			if err != nil {
				// The build is queued but we cannot follow it; a retry
				// would queue a second one.
				return "", fmt.Errorf("%w: jenkins job %s: POST %s: HTTP %s with Location %q: %w", ErrBroken, s.job, u, resp.Status, loc, err)
			}
			return q, nil
		case resp.StatusCode == http.StatusForbidden && noValidCrumb(resp, body):
			if retried {
				return "", fmt.Errorf("%w: jenkins job %s: POST %s: HTTP %s twice, with a fresh crumb (does a proxy drop the session cookie or the %s header?)", ErrConfig, s.job, u, resp.Status, s.crumbField)
			}
			// The session the crumb was bound to expired: once more with a
			// new one.
			if err := s.fetchCrumb(ctx); err != nil {
				return "", err
			}
		case resp.StatusCode == http.StatusNotFound:
			return "", fmt.Errorf("%w: jenkins job %s not found: POST %s: HTTP %s", ErrConfig, s.job, u, resp.Status)
		case resp.StatusCode == http.StatusBadRequest:
			return "", fmt.Errorf("%w: jenkins job %s refused the build: POST %s: HTTP %s (is the job parameterized?)", ErrConfig, s.job, u, resp.Status)
		default:
			return "", s.statusError(http.MethodPost, u, resp)
		}
	}
}

// fetchCrumb gets a CSRF crumb; its session cookie lands in the jar.
func (s *jenkinsSession) fetchCrumb(ctx context.Context) error {
	var c struct {
		Field string `json:"crumbRequestField"`
		Crumb string `json:"crumb"`
	}
	u := s.base + "/crumbIssuer/api/json"
	err := s.getJSON(ctx, u, &c, maxJSONSize)
	switch {
	case isStatus(err, http.StatusNotFound):
		s.crumbField, s.crumb = "", "" // CSRF protection is off
		return nil
	case err != nil:
		return err
	case c.Field == "" || c.Crumb == "":
		return fmt.Errorf("jenkins: GET %s: no crumb in the answer", u)
	}
	s.crumbField, s.crumb = c.Field, c.Crumb
	return nil
}

// getJSON GETs u and decodes its JSON body, read up to limit bytes, into v.
func (s *jenkinsSession) getJSON(ctx context.Context, u string, v any, limit int64) error {
	resp, err := s.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		readErrorBody(resp)
		return s.statusError(http.MethodGet, u, resp)
	}
	lr := &io.LimitedReader{R: resp.Body, N: limit + 1}
	if err := json.NewDecoder(lr).Decode(v); err != nil {
		if lr.N <= 0 {
			return fmt.Errorf("jenkins: GET %s: answer larger than %d bytes", u, limit)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("jenkins: GET %s: %w", u, ctx.Err())
		}
		return fmt.Errorf("jenkins: GET %s: decoding the answer: %w", u, err)
	}
	return nil
}

// do sends one request with credentials and, on a POST, the crumb.
func (s *jenkinsSession) do(ctx context.Context, method, u string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%w: jenkins job %s: %w", ErrConfig, s.job, err)
	}
	if s.user != "" || s.token != "" {
		req.SetBasicAuth(s.user, s.token)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if s.crumbField != "" {
			req.Header.Set(s.crumbField, s.crumb)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// Transport errors are worth retrying; *url.Error names the URL.
		return nil, fmt.Errorf("jenkins job %s: %w", s.job, err)
	}
	return resp, nil
}

// statusError describes a response that was not what we asked for:
// refused credentials and other 4xx wrap ErrConfig; 5xx, 408 and 429 are
// plain errors, worth retrying.
func (s *jenkinsSession) statusError(method, u string, resp *http.Response) error {
	e := &statusError{Method: method, URL: u, Code: resp.StatusCode, Status: resp.Status}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("jenkins refused user %q (check the user, its API token and its permissions on job %s): %w", s.user, s.job, e)
	}
	return fmt.Errorf("jenkins job %s: %w", s.job, e)
}

// statusError is an HTTP answer other than the expected one.
type statusError struct {
	Method, URL string
	Code        int
	Status      string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %s", e.Method, e.URL, e.Status)
}

// Is makes a 4xx that a retry would repeat satisfy errors.Is(err, ErrConfig).
func (e *statusError) Is(target error) bool {
	return target == ErrConfig && e.Code >= 400 && e.Code < 500 &&
		e.Code != http.StatusRequestTimeout && e.Code != http.StatusTooManyRequests
}

// isStatus reports whether err is an HTTP answer with code.
func isStatus(err error, code int) bool {
	var se *statusError
	return errors.As(err, &se) && se.Code == code
}

// noValidCrumb reports whether a 403 is Jenkins refusing the crumb (which
// it says in the status line and the error page) rather than the user.
func noValidCrumb(resp *http.Response, body string) bool {
	const msg = "No valid crumb"
	return strings.Contains(resp.Status, msg) || strings.Contains(body, msg)
}

// readErrorBody reads the start of a response we will not decode: to look
// for "No valid crumb", and so that a short body leaves the connection
// reusable.
func readErrorBody(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return string(b)
}
