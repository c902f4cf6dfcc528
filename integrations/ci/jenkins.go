package ci

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Jenkins runs a suite as a parameterized Jenkins job and reads its test
// report, through Jenkins' remote access API:
//
//  1. POST /job/<folder>/job/<name>/buildWithParameters with Params and the
//     OSFLOW_* variables (201, Location: the queue item);
//  2. poll <queue item>/api/json until it has an executable (the build) or
//     was cancelled;
//  3. poll <build>/api/json until it is no longer building;
//  4. SUCCESS or UNSTABLE: read <build>/testReport/api/json; FAILURE,
//     ABORTED, NOT_BUILT: the build is broken (ErrBroken), which says
//     nothing about test cases.
//
// The CSRF crumb (/crumbIssuer/api/json) is fetched before the POST, with
// the session cookie it is bound to; a 404 there means CSRF protection is
// off. Jenkins does not need a crumb with an API token, but a
// username/password setup or a proxy may; a "No valid crumb" refusal
// (expired session) refetches it once.
type Jenkins struct {
	SuiteName string // default: Job
	BaseURL   string // http(s)://host[:port][/prefix]
	Job       string // "folder/name" -> /job/folder/job/name
	User      string
	// Token returns the user's API token. It is called at each Run, so the
	// token lives only in the worker (environment or file), never in
	// workflow data.
	Token        func() (string, error)
	Params       map[string]string
	HTTP         *http.Client  // nil: a client with a 30s timeout per request
	PollInterval time.Duration // zero: 10s
	// Resume lets a retried Temporal activity continue a build instead of
	// triggering a second one: with a BuildURL, Run polls that build; with
	// only a QueueURL, it polls that queue item.
	Resume *JenkinsProgress
	// Save receives the progress after each step and each poll; the
	// activity heartbeats it, which also keeps the heartbeat alive while
	// the build runs.
	Save func(JenkinsProgress)
}

// JenkinsProgress is how far a Run got: what a retry resumes from. It
// holds no secret.
type JenkinsProgress struct {
	QueueURL string
	BuildURL string
	Number   int
}

func (j Jenkins) Name() string { return cmp.Or(j.SuiteName, j.Job) }

// Run triggers the job for t (or resumes j.Resume) and waits for its
// result. Failed test cases come back as a Result; a build that did not
// produce test results is ErrBroken.
func (j Jenkins) Run(ctx context.Context, t Target) (Result, error) {
	s, err := j.session(t)
	if err != nil {
		return Result{}, err
	}
	if j.Resume != nil {
		s.progress = *j.Resume
	}
	if s.progress.BuildURL == "" {
		if s.progress.QueueURL == "" {
			if s.progress.QueueURL, err = s.trigger(ctx, j.params(t)); err != nil {
				return Result{}, err
			}
			s.save()
		}
		if err := s.waitQueue(ctx); err != nil {
			return Result{}, err
		}
		s.save()
	}
	result, err := s.waitBuild(ctx)
	if err != nil {
		return Result{}, err
	}
	r := Result{Suite: j.Name(), URL: s.progress.BuildURL}
	switch result {
	case "SUCCESS", "UNSTABLE":
		if r.Cases, err = s.testReport(ctx, j.Name()); err != nil {
			return Result{}, err
		}
		return r, nil
	default: // FAILURE, ABORTED, NOT_BUILT
		return Result{}, fmt.Errorf("%w: jenkins job %s: build %s ended %s", ErrBroken, j.Job, s.progress.BuildURL, result)
	}
}

// params are the build parameters: j.Params, then the OSFLOW_* variables,
// which win so that a configured parameter cannot point the job at
// another channel.
func (j Jenkins) params(t Target) url.Values {
	v := url.Values{}
	for k, val := range j.Params {
		v.Set(k, val)
	}
	for k, val := range t.env() {
		v.Set(k, val)
	}
	return v
}

// waitQueue polls the queue item until Jenkins starts its build.
func (s *jenkinsSession) waitQueue(ctx context.Context) error {
	u := s.progress.QueueURL + "api/json"
	for {
		var item struct {
			Cancelled  bool   `json:"cancelled"`
			Why        string `json:"why"`
			Executable *struct {
				Number int `json:"number"`
			} `json:"executable"`
		}
		err := s.getJSON(ctx, u, &item, maxJSONSize)
		if isStatus(err, http.StatusNotFound) {
			// Jenkins forgets an item a few minutes after it leaves the
			// queue; without its executable we cannot find the build.
			return fmt.Errorf("%w: jenkins job %s: queue item %s expired before we saw its build", ErrBroken, s.job, s.progress.QueueURL)
		}
		if err != nil {
			return err
		}
		switch {
		case item.Cancelled:
			return fmt.Errorf("%w: jenkins job %s: queue item %s cancelled in queue", ErrBroken, s.job, s.progress.QueueURL)
		case item.Executable != nil && item.Executable.Number > 0:
			// Polled at BaseURL, not at the executable's url: that one is
			// built from Jenkins' configured root URL, which the worker may
			// not reach (proxies, an unset root URL).
			s.progress.Number = item.Executable.Number
			s.progress.BuildURL = s.jobURL() + strconv.Itoa(item.Executable.Number) + "/"
			return nil
		}
		s.save()
		if err := s.wait(ctx, s.progress.QueueURL); err != nil {
			return err
		}
	}
}

// waitBuild polls the build until it has finished and returns its result.
func (s *jenkinsSession) waitBuild(ctx context.Context) (string, error) {
	u := s.progress.BuildURL + "api/json?tree=building,result,number"
	for {
		var b struct {
			Building bool    `json:"building"`
			Result   *string `json:"result"` // null while running
		}
		err := s.getJSON(ctx, u, &b, maxJSONSize)
		if isStatus(err, http.StatusNotFound) {
			return "", fmt.Errorf("%w: jenkins job %s: build %s not found (deleted?)", ErrBroken, s.job, s.progress.BuildURL)
		}
		if err != nil {
			return "", err
		}
		if !b.Building && b.Result != nil {
			return *b.Result, nil
		}
		s.save()
		if err := s.wait(ctx, s.progress.BuildURL); err != nil {
			return "", err
		}
	}
}

// testReport reads the build's JUnit results as Jenkins aggregated them.
func (s *jenkinsSession) testReport(ctx context.Context, suite string) ([]Case, error) {
	u := s.progress.BuildURL + "testReport/api/json?tree=suites[cases[className,name,status,errorDetails,errorStackTrace,duration]]"
	var report struct {
		Suites []struct {
			Cases []struct {
				ClassName       string  `json:"className"`
				Name            string  `json:"name"`
				Status          string  `json:"status"`
				ErrorDetails    string  `json:"errorDetails"`
				ErrorStackTrace string  `json:"errorStackTrace"`
				Duration        float64 `json:"duration"`
			} `json:"cases"`
		} `json:"suites"`
	}
	err := s.getJSON(ctx, u, &report, maxJUnitSize)
	if isStatus(err, http.StatusNotFound) {
		return nil, fmt.Errorf("%w: jenkins job %s: build %s has no test report (does the job publish JUnit results?)", ErrBroken, s.job, s.progress.BuildURL)
	}
	if err != nil {
		return nil, err
	}
	var cases []Case
	for _, js := range report.Suites {
		for _, jc := range js.Cases {
			c := Case{Suite: suite, Name: jc.Name, Duration: seconds(max(jc.Duration, 0))}
			if jc.ClassName != "" {
				c.Name = jc.ClassName + "." + jc.Name
			}
			switch jc.Status {
			case "PASSED", "FIXED":
				c.Status = Passed
			case "SKIPPED":
				c.Status = Skipped
			case "FAILED", "REGRESSION":
				c.Status = Failed
				c.Message = truncate(strings.TrimSpace(cmp.Or(jc.ErrorDetails, jc.ErrorStackTrace)), maxMessage)
			default:
				c.Status = Errored
				c.Message = fmt.Sprintf("unknown Jenkins case status %q", jc.Status)
			}
			cases = append(cases, c)
		}
	}
	return cases, nil
}

// queueItemPath matches the path of a queue item's URL.
var queueItemPath = regexp.MustCompile(`/queue/item/(\d+)/?$`)

// queueURL turns the Location of a triggered build into the queue item's
// URL under BaseURL (for the same reason as the build URL, see waitQueue).
func (s *jenkinsSession) queueURL(location string) (string, error) {
	loc, err := url.Parse(location)
	if err != nil {
		return "", err
	}
	m := queueItemPath.FindStringSubmatch(loc.Path)
	if m == nil {
		return "", errors.New("not a queue item URL")
	}
	return s.base + "/queue/item/" + m[1] + "/", nil
}

// wait waits one poll interval, or until ctx ends.
func (s *jenkinsSession) wait(ctx context.Context, polling string) error {
	t := time.NewTimer(s.poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("jenkins job %s: waiting for %s: %w", s.job, polling, ctx.Err())
	case <-t.C:
		return nil
	}
}

func (s *jenkinsSession) save() {
	if s.onSave != nil {
		s.onSave(s.progress)
	}
}
