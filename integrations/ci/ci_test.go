package ci

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The suites osflow configures.
var (
	_ Suite = Command{}
	_ Suite = Repoclosure{}
	_ Suite = Install{}
	_ Suite = Jenkins{}
)

func TestResultFailedAndFingerprint(t *testing.T) {
	r := Result{Suite: "smoke", Cases: []Case{
		{Suite: "smoke", Name: "a", Status: Passed},
		{Suite: "smoke", Name: "b", Status: Failed},
		{Suite: "smoke", Name: "c", Status: Skipped},
		{Suite: "smoke", Name: "d", Status: Errored},
	}}
	var names []string
	for _, c := range r.Failed() {
		names = append(names, c.Fingerprint())
	}
	require.Equal(t, []string{"smoke/b", "smoke/d"}, names)
	require.Empty(t, Result{}.Failed())
}

func TestTargetValidate(t *testing.T) {
	good := Target{Channel: "testing", BaseURL: "http://repo.example:8080/testing/", Repos: []string{"baseos", "app-stream", "epel.9"}}
	require.NoError(t, good.validate())
	require.Equal(t, "http://repo.example:8080/testing/baseos/", good.RepoURL("baseos"))

	tests := []struct {
		name   string
		change func(*Target)
		want   string
	}{
		{"no trailing slash", func(t *Target) { t.BaseURL = "http://repo.example/testing" }, "does not end with /"},
		{"not http", func(t *Target) { t.BaseURL = "file:///srv/testing/" }, "not http(s)"},
		{"no repos", func(t *Target) { t.Repos = nil }, "no repos"},
		{"comma in repo", func(t *Target) { t.Repos = []string{"a,b"} }, `bad repo name "a,b"`},
		{"slash in repo", func(t *Target) { t.Repos = []string{"../x"} }, "bad repo name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := good
			target.Repos = append([]string(nil), good.Repos...)
			tt.change(&target)
			err := target.validate()
			require.ErrorIs(t, err, ErrConfig)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
