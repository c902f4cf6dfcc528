package activities

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// A reference reads back the cases it was made from, and refuses a file
// changed or lost since.
func TestResultsByReference(t *testing.T) {
	cases := []CaseResult{{Suite: "s", Name: "a", Status: "failed", Message: "boom"}}
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, ref *ResultsRef)
		err   string
	}{
		{name: "read back", spoil: func(*testing.T, *ResultsRef) {}},
		{name: "changed", spoil: func(t *testing.T, ref *ResultsRef) {
			require.NoError(t, os.WriteFile(ref.Path, []byte("[]"), 0o644))
		}, err: "changed after the suite ran"},
		{name: "gone on this host", spoil: func(t *testing.T, ref *ResultsRef) {
			require.NoError(t, os.Remove(ref.Path))
		}, err: "are gone: the round must run again"},
		{name: "kept on another host", spoil: func(t *testing.T, ref *ResultsRef) {
			require.NoError(t, os.Remove(ref.Path))
			ref.Host = "elsewhere.example"
		}, err: "are kept on host elsewhere.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &TestActivities{ResultsDir: t.TempDir()}
			ref, err := a.keepBounded(context.Background(), RunSuiteInput{Suite: "s", Release: "r1"}, cases)
			require.NoError(t, err)
			tc.spoil(t, ref)
			run := CaseResult{Suite: "s", Name: SuiteRunCase, Status: "passed"}
			got, err := resolveResults([]SuiteResult{{Suite: "s", Ref: ref, Cases: []CaseResult{run}}})
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []SuiteResult{{Suite: "s", Cases: append(cases, run)}}, got)
		})
	}
	_, err := (&TestActivities{}).keepBounded(context.Background(), RunSuiteInput{Suite: "s"}, cases)
	require.ErrorContains(t, err, "need the worker's results directory")
}
