package ci

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// client returns a Jenkins suite for f's job and the progress it saves.
func (f *fakeJenkins) client(job string) (Jenkins, *[]JenkinsProgress) {
	saves := &[]JenkinsProgress{}
	return Jenkins{
		BaseURL:      f.srv.URL + "/",
		Job:          job,
		User:         "osflow",
		Token:        func() (string, error) { return "api-token", nil },
		Params:       map[string]string{"NODES": "tc[01-04]", "OSFLOW_CHANNEL": "production"},
		HTTP:         f.srv.Client(),
		PollInterval: time.Microsecond,
		Save:         func(p JenkinsProgress) { *saves = append(*saves, p) },
	}, saves
}

func strp(s string) *string { return &s }

var unstableReport = []fakeCase{
	{ClassName: "tests.Slurm", Name: "test_submit", Status: "PASSED", Duration: 1.25},
	{ClassName: "tests.Slurm", Name: "test_gres", Status: "FIXED"},
	{ClassName: "tests.GPU", Name: "test_cuda", Status: "SKIPPED"},
	{ClassName: "tests.Lustre", Name: "test_mount", Status: "FAILED", ErrorDetails: strp("mount.lustre: Input/output error"), ErrorStackTrace: strp("Traceback...")},
	{Name: "test_ldap", Status: "REGRESSION", ErrorStackTrace: strp("AssertionError: getent passwd alice")},
}

func TestJenkinsUnstableWithFailingCases(t *testing.T) {
	f := newFakeJenkins(t, fakeScript{queuePolls: 2, buildPolls: 3, result: "UNSTABLE", report: unstableReport})
	j, saves := f.client("osflow/el9-integration")

	r, err := j.Run(t.Context(), testTarget)
	require.NoError(t, err)
	buildURL := f.srv.URL + "/job/osflow/job/el9-integration/42/"
	require.Equal(t, Result{Suite: "osflow/el9-integration", URL: buildURL, Cases: []Case{
		{Suite: "osflow/el9-integration", Name: "tests.Slurm.test_submit", Status: Passed, Duration: 1250 * time.Millisecond},
		{Suite: "osflow/el9-integration", Name: "tests.Slurm.test_gres", Status: Passed},
		{Suite: "osflow/el9-integration", Name: "tests.GPU.test_cuda", Status: Skipped},
		{Suite: "osflow/el9-integration", Name: "tests.Lustre.test_mount", Status: Failed, Message: "mount.lustre: Input/output error"},
		{Suite: "osflow/el9-integration", Name: "test_ldap", Status: Failed, Message: "AssertionError: getent passwd alice"},
	}}, r)
	require.Len(t, r.Failed(), 2)

	posts, crumbs := f.counts()
	require.Equal(t, 1, posts)
	require.Equal(t, 1, crumbs)
	require.Equal(t, []map[string]string{{
		"NODES":              "tc[01-04]",
		"OSFLOW_CHANNEL":     "testing", // the target wins over Params
		"OSFLOW_RELEASE":     "r-20260101",
		"OSFLOW_CHANNEL_URL": "http://repo.example/testing/",
		"OSFLOW_REPOS":       "baseos,overlay",
		"OSFLOW_REPO_URLS":   "http://repo.example/testing/baseos/,http://repo.example/testing/overlay/",
	}}, f.params)

	// Saved: the queue item as soon as it exists, then while waiting (the
	// heartbeat), then the build.
	queued := JenkinsProgress{QueueURL: f.srv.URL + "/queue/item/101/"}
	started := JenkinsProgress{QueueURL: queued.QueueURL, BuildURL: buildURL, Number: 42}
	require.Equal(t, []JenkinsProgress{queued, queued, queued, started, started, started, started}, *saves)
}

func TestJenkinsOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		script     fakeScript
		wantFailed int
		wantErr    string // ErrBroken when set
	}{
		{name: "success", script: fakeScript{result: "SUCCESS", report: unstableReport[:3]}},
		{name: "success with failures the job ignored", script: fakeScript{result: "SUCCESS", report: unstableReport}, wantFailed: 2},
		{name: "build failure", script: fakeScript{buildPolls: 1, result: "FAILURE", report: unstableReport}, wantErr: "ended FAILURE"},
		{name: "aborted", script: fakeScript{result: "ABORTED"}, wantErr: "ended ABORTED"},
		{name: "not built", script: fakeScript{result: "NOT_BUILT"}, wantErr: "ended NOT_BUILT"},
		{name: "cancelled in queue", script: fakeScript{queuePolls: 1, cancel: true}, wantErr: "cancelled in queue"},
		{name: "queue item expired", script: fakeScript{queuePolls: 1, expire: true}, wantErr: "/queue/item/101/ expired"},
		{name: "no test report", script: fakeScript{result: "SUCCESS", noReport: true}, wantErr: "has no test report"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeJenkins(t, tt.script)
			j, _ := f.client("smoke")
			r, err := j.Run(t.Context(), testTarget)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrBroken)
				require.NotErrorIs(t, err, ErrConfig)
				require.ErrorContains(t, err, tt.wantErr)
				require.ErrorContains(t, err, "jenkins job smoke")
				return
			}
			require.NoError(t, err)
			require.Len(t, r.Failed(), tt.wantFailed)
			require.Equal(t, f.srv.URL+"/job/smoke/42/", r.URL)
		})
	}
}

func TestJenkinsCrumb(t *testing.T) {
	tests := []struct {
		name                  string
		setup                 func(*fakeJenkins)
		wantPosts, wantCrumbs int
		wantErr               string // ErrConfig when set
	}{
		{name: "crumb required", wantPosts: 1, wantCrumbs: 1},
		{name: "session expired once: crumb refetched", setup: func(f *fakeJenkins) { f.expireOnce = true }, wantPosts: 2, wantCrumbs: 2},
		{name: "crumb never accepted", setup: func(f *fakeJenkins) { f.alwaysStale = true }, wantPosts: 2, wantCrumbs: 2, wantErr: "twice, with a fresh crumb"},
		{name: "CSRF protection off", setup: func(f *fakeJenkins) { f.csrf = false }, wantPosts: 1, wantCrumbs: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeJenkins(t, fakeScript{result: "SUCCESS"})
			if tt.setup != nil {
				tt.setup(f)
			}
			j, _ := f.client("osflow/el9-integration")
			_, err := j.Run(t.Context(), testTarget)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrConfig)
				require.ErrorContains(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			posts, crumbs := f.counts()
			require.Equal(t, tt.wantPosts, posts)
			require.Equal(t, tt.wantCrumbs, crumbs)
		})
	}
}

func TestJenkinsConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Jenkins, *fakeJenkins)
		want   []string
	}{
		{"wrong token", func(j *Jenkins, f *fakeJenkins) {
			j.Token = func() (string, error) { return "stale", nil }
		}, []string{`user "osflow"`, "/crumbIssuer/api/json", "401 Unauthorized"}},
		{"no build permission", func(j *Jenkins, f *fakeJenkins) {
			f.readOnly["osflow"] = true
		}, []string{`user "osflow"`, "/job/osflow/job/el9-integration/buildWithParameters", "403 Forbidden"}},
		{"unknown job", func(j *Jenkins, f *fakeJenkins) {
			j.Job = "osflow/nope"
		}, []string{"jenkins job osflow/nope not found", "/job/osflow/job/nope/buildWithParameters"}},
		{"token unreadable", func(j *Jenkins, f *fakeJenkins) {
			j.Token = func() (string, error) { return "", errors.New("open /etc/osflow/jenkins.token: no such file") }
		}, []string{`API token for user "osflow"`, "jenkins.token"}},
		{"base URL with credentials", func(j *Jenkins, f *fakeJenkins) {
			j.BaseURL = "https://osflow:secret@jenkins.example/"
		}, []string{"base URL has credentials"}},
		{"base URL not http", func(j *Jenkins, f *fakeJenkins) { j.BaseURL = "jenkins.example" }, []string{"not an http(s) URL"}},
		{"bad job", func(j *Jenkins, f *fakeJenkins) { j.Job = "osflow//x" }, []string{`bad job "osflow//x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeJenkins(t, fakeScript{result: "SUCCESS"})
			j, _ := f.client("osflow/el9-integration")
			tt.change(&j, f)
			_, err := j.Run(t.Context(), testTarget)
			require.ErrorIs(t, err, ErrConfig)
			require.NotErrorIs(t, err, ErrBroken)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			require.NotContains(t, err.Error(), "api-token")
		})
	}
}

// TestJenkins5xxRetriedByCaller: a 5xx is a plain error; the caller (a
// Temporal retry) runs again from the saved progress, and no second build
// is triggered.
func TestJenkins5xxRetriedByCaller(t *testing.T) {
	tests := []struct {
		name       string
		failPrefix string
		wantPosts  int
	}{
		{"trigger", "/job/osflow/job/el9-integration/buildWithParameters", 1},
		{"queue poll", "/queue/item/", 1},
		{"build poll", "/job/osflow/job/el9-integration/42/api/json", 1},
		{"test report", "/job/osflow/job/el9-integration/42/testReport/", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeJenkins(t, fakeScript{queuePolls: 1, buildPolls: 1, result: "UNSTABLE", report: unstableReport})
			f.fail[tt.failPrefix] = 1
			j, saves := f.client("osflow/el9-integration")

			_, err := j.Run(t.Context(), testTarget)
			require.ErrorContains(t, err, "503 Service Unavailable")
			require.NotErrorIs(t, err, ErrBroken)
			require.NotErrorIs(t, err, ErrConfig)

			if len(*saves) > 0 {
				last := (*saves)[len(*saves)-1]
				j.Resume = &last
			}
			r, err := j.Run(t.Context(), testTarget)
			require.NoError(t, err)
			require.Len(t, r.Failed(), 2)
			posts, _ := f.counts()
			require.Equal(t, tt.wantPosts, posts)
		})
	}
}

func TestJenkinsResume(t *testing.T) {
	f := newFakeJenkins(t, fakeScript{queuePolls: 1, buildPolls: 1, result: "UNSTABLE", report: unstableReport})
	j, saves := f.client("osflow/el9-integration")
	first, err := j.Run(t.Context(), testTarget)
	require.NoError(t, err)
	queued, started := (*saves)[0], (*saves)[len(*saves)-1]
	require.Empty(t, queued.BuildURL)
	require.Equal(t, 42, started.Number)

	for _, resume := range []JenkinsProgress{queued, started} {
		j, _ := f.client("osflow/el9-integration")
		j.Resume = &resume
		r, err := j.Run(t.Context(), testTarget)
		require.NoError(t, err)
		require.Equal(t, first, r)
	}
	posts, crumbs := f.counts()
	require.Equal(t, 1, posts, "a resumed run triggered another build")
	require.Equal(t, 1, crumbs, "a resumed run asked for a crumb it does not need")
}

func TestJenkinsRespectsContext(t *testing.T) {
	f := newFakeJenkins(t, fakeScript{buildPolls: 1 << 30, result: "SUCCESS"})
	j, _ := f.client("smoke")
	j.PollInterval = time.Hour // only the cancellation can end the wait
	ctx, cancel := context.WithCancel(t.Context())
	j.Save = func(p JenkinsProgress) {
		if p.BuildURL != "" {
			cancel()
		}
	}
	_, err := j.Run(ctx, testTarget)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ErrBroken)
}

func TestJenkinsTransportError(t *testing.T) {
	f := newFakeJenkins(t, fakeScript{result: "SUCCESS"})
	j, _ := f.client("smoke")
	f.srv.Close()
	_, err := j.Run(t.Context(), testTarget)
	require.Error(t, err)
	require.ErrorContains(t, err, "jenkins job smoke")
	require.NotErrorIs(t, err, ErrConfig)
	require.NotErrorIs(t, err, ErrBroken)
}

func TestJenkinsJobURL(t *testing.T) {
	tests := []struct{ base, job, want string }{
		{"https://ci.example/", "smoke", "https://ci.example/job/smoke/"},
		{"https://ci.example/jenkins", "hpc/el9 integration", "https://ci.example/jenkins/job/hpc/job/el9%20integration/"},
		{"http://ci.example:8080/", "a/b/c", "http://ci.example:8080/job/a/job/b/job/c/"},
	}
	for _, tt := range tests {
		s, err := Jenkins{BaseURL: tt.base, Job: tt.job, HTTP: &http.Client{}}.session(testTarget)
		require.NoError(t, err)
		require.Equal(t, tt.want, s.jobURL())
	}
}
