package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.temporal.io/sdk/activity"
)

// Suite results travel between RunSuite and ProcessResults as references
// to files on the worker: a round of many suites at the failure cap,
// inline, is megabytes, and past Temporal's 2 MiB payload limit the
// server terminates the test cycle.

// keepBounded writes a suite run's bounded cases under ResultsDir and
// returns the reference to them. The name is the activity's attempt, so a
// retry never overwrites what an earlier attempt may have returned.
func (a *TestActivities) keepBounded(ctx context.Context, in RunSuiteInput, cases []CaseResult) (*ResultsRef, error) {
	if a.ResultsDir == "" {
		return nil, invalid(fmt.Sprintf("suite %s: results by reference need the worker's results directory, and it has none", in.Suite))
	}
	b, err := json.Marshal(cases)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-%d.json", in.Suite, os.Getpid())
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		name = fmt.Sprintf("%s-%s-%s-%d.json", in.Suite, info.WorkflowExecution.RunID, info.ActivityID, info.Attempt)
	}
	dir := filepath.Join(a.ResultsDir, in.Release, "rounds")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("keep the results of suite %s: %w", in.Suite, err)
	}
	p := filepath.Join(dir, name)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return nil, fmt.Errorf("keep the results of suite %s: %w", in.Suite, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return nil, fmt.Errorf("keep the results of suite %s: %w", in.Suite, err)
	}
	host, _ := os.Hostname()
	sum := sha256.Sum256(b)
	return &ResultsRef{Host: host, Path: p, SHA256: hex.EncodeToString(sum[:])}, nil
}

// resolveResults returns the round's results with every reference read
// back into Cases, ahead of what the workflow added inline.
func resolveResults(results []SuiteResult) ([]SuiteResult, error) {
	out := make([]SuiteResult, len(results))
	for i, res := range results {
		out[i] = res
		if res.Ref == nil {
			continue
		}
		cases, err := readResults(res.Suite, *res.Ref)
		if err != nil {
			return nil, err
		}
		out[i].Cases = append(cases, res.Cases...)
		out[i].Ref = nil
	}
	return out, nil
}

func readResults(suite string, ref ResultsRef) ([]CaseResult, error) {
	b, err := os.ReadFile(ref.Path)
	if errors.Is(err, fs.ErrNotExist) {
		host, _ := os.Hostname()
		if host != ref.Host {
			// Another main worker may hold it; the retry may land there.
			return nil, fmt.Errorf("the results of suite %s are kept on host %s at %s, which this worker on %s cannot read: give the main workers one results directory (a shared cache directory, $XDG_CACHE_HOME/osflow)",
				suite, ref.Host, ref.Path, host)
		}
		return nil, invalid(fmt.Sprintf("the results of suite %s at %s are gone: the round must run again", suite, ref.Path))
	}
	if err != nil {
		return nil, fmt.Errorf("read the results of suite %s: %w", suite, err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != ref.SHA256 {
		return nil, invalid(fmt.Sprintf("the results of suite %s at %s changed after the suite ran (sha256 %s, expected %s)", suite, ref.Path, got, ref.SHA256))
	}
	var cases []CaseResult
	if err := json.Unmarshal(b, &cases); err != nil {
		return nil, invalid(fmt.Sprintf("the results of suite %s at %s: %v", suite, ref.Path, err))
	}
	return cases, nil
}
