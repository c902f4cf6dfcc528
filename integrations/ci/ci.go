// Package ci runs integration-test suites against one channel of osflow's
// store and returns their case results, which the test cycle turns into
// tickets.
//
// A Suite is either run here (Command: any argv that writes JUnit XML;
// Repoclosure and Install: built-in dnf checks) or remotely (Jenkins). Every
// suite separates two outcomes that the cycle treats differently:
//
//   - test failures: the suite ran and some cases failed. They come back as
//     a Result with failed cases and a nil error, and each becomes a ticket.
//   - a broken run: the suite could not say anything about the channel (the
//     build failed, the command crashed without JUnit, a timeout, dnf could
//     not reach the repos). The error wraps ErrBroken; no ticket is filed
//     for a test, the run is reported as broken.
//
// Errors wrapping ErrConfig will fail the same way on every attempt (a bad
// argv, refused credentials, a job that does not exist); other errors
// (transport, 5xx) may succeed when retried.
package ci

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Status is the outcome of one test case.
type Status string

const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Errored Status = "error" // the test itself could not run as written
	Skipped Status = "skipped"
)

// Case is one test case's result.
type Case struct {
	Suite    string
	Name     string
	Status   Status
	Message  string
	Duration time.Duration
}

// Fingerprint is the key a ticket is filed and found under: the same case
// failing in the next cycle comments on the open ticket instead of filing a
// second one.
func (c Case) Fingerprint() string { return c.Suite + "/" + c.Name }

// Result is what one run of a suite produced.
type Result struct {
	Suite string
	Cases []Case
	// URL is where a human finds the run's logs: the Jenkins build URL.
	// Local suites put the relevant output in each case's Message and leave
	// it empty.
	URL string
}

// Failed returns the cases that failed or errored, in order.
func (r Result) Failed() []Case {
	var out []Case
	for _, c := range r.Cases {
		if c.Status == Failed || c.Status == Errored {
			out = append(out, c)
		}
	}
	return out
}

// Target is what a suite tests: one channel of osflow's store.
type Target struct {
	Channel string
	Release string
	BaseURL string   // http://host:port/<channel>/ (ends with /)
	Repos   []string // repo names; repo URL = BaseURL + name + "/"
	// Paths maps a repo that is not at BaseURL + name, a variant of a
	// distribution tree ("dist-BaseOS"), to its path below BaseURL
	// ("dist/BaseOS").
	Paths map[string]string
}

// RepoURL returns the URL of one of the channel's repos.
func (t Target) RepoURL(repo string) string {
	if p, ok := t.Paths[repo]; ok {
		return t.BaseURL + p + "/"
	}
	return t.BaseURL + repo + "/"
}

// repoName is what a repo name may look like here: it becomes a dnf repo id
// ("name,url" in --repofrompath) and an element of the comma-separated
// OSFLOW_REPOS, so commas, slashes and spaces would corrupt both.
var repoName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// validate refuses a target no suite could test. A bad target is a caller's
// mistake that a retry repeats, so it wraps ErrConfig.
func (t Target) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: target %q: %s", ErrConfig, t.Channel, fmt.Sprintf(format, args...))
	}
	switch {
	case !strings.HasPrefix(t.BaseURL, "http://") && !strings.HasPrefix(t.BaseURL, "https://"):
		return bad("base URL %q is not http(s)", t.BaseURL)
	case !strings.HasSuffix(t.BaseURL, "/"):
		return bad("base URL %q does not end with /", t.BaseURL)
	case len(t.Repos) == 0:
		return bad("no repos")
	}
	for _, r := range t.Repos {
		if !repoName.MatchString(r) {
			return bad("bad repo name %q", r)
		}
	}
	return nil
}

// env returns the OSFLOW_* variables that tell a suite what to test.
func (t Target) env() map[string]string {
	urls := make([]string, len(t.Repos))
	for i, r := range t.Repos {
		urls[i] = t.RepoURL(r)
	}
	return map[string]string{
		"OSFLOW_CHANNEL":     t.Channel,
		"OSFLOW_RELEASE":     t.Release,
		"OSFLOW_CHANNEL_URL": t.BaseURL,
		"OSFLOW_REPOS":       strings.Join(t.Repos, ","),
		"OSFLOW_REPO_URLS":   strings.Join(urls, ","),
	}
}

var (
	// ErrBroken: the suite could not produce results (build FAILURE, command
	// crashed without JUnit, timeout). Distinct from test failures, which
	// are cases in a Result.
	ErrBroken = errors.New("test run broken")
	// ErrConfig: the suite is configured wrongly (bad argv, refused
	// credentials, unknown job); retrying cannot help.
	ErrConfig = errors.New("bad suite configuration")
)

// Suite is one integration-test suite.
type Suite interface {
	Name() string
	Run(ctx context.Context, t Target) (Result, error)
}
