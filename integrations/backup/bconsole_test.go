package backup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
)

// The transcripts in testdata/ were recorded from Debian's Bacula 9.6.7
// by TestBaculaRealDaemons -update.
func transcript(t *testing.T, name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}

func TestParseRecordedTranscripts(t *testing.T) {
	id, err := parseRun(transcript(t, "run-queued.txt"))
	require.NoError(t, err)
	require.Equal(t, 1, id)

	tests := []struct {
		file, status    string
		done, succeeded bool
		comment         string
	}{
		{"llist-queued.txt", "C", false, false, "osflow:k-queued"},
		{"llist-running.txt", "R", false, false, "osflow:k-gated"},
		{"llist-T.txt", "T", true, true, "osflow:promotion-r1/backup"},
		{"llist-E.txt", "E", true, false, "osflow:k-error"},
		{"llist-f.txt", "f", true, false, "osflow:k-fatal"},
		{"llist-A.txt", "A", true, false, "osflow:k-cancel"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			jobs, err := parseLlist(transcript(t, tt.file))
			require.NoError(t, err)
			require.Len(t, jobs, 1)
			j := jobs[0]
			require.Positive(t, j.ID)
			require.Equal(t, tt.status, j.Status)
			require.Equal(t, tt.done, j.Done())
			require.Equal(t, tt.succeeded, j.Succeeded())
			require.Equal(t, tt.comment, j.Comment)
			require.Equal(t, "F", j.Level)
		})
	}
	jobs, err := parseLlist(transcript(t, "llist-T.txt"))
	require.NoError(t, err)
	require.Equal(t, Job{ID: 1, Name: "ok", Status: "T", Level: "F", Files: 2, Bytes: 5, Comment: "osflow:promotion-r1/backup"}, jobs[0])

	jobs, err = parseLlist(transcript(t, "llist-none.txt"))
	require.NoError(t, err)
	require.Empty(t, jobs)

	_, err = parseRun(transcript(t, "run-not-found.txt"))
	require.ErrorIs(t, err, failure.ErrNotFound)
	require.Contains(t, err.Error(), `Job "nosuch" not found`)

	_, err = parseLlist(transcript(t, "auth-refused.txt"))
	require.ErrorIs(t, err, failure.ErrAuth)
}

func TestParseRefusesWhatItCannotRead(t *testing.T) {
	t.Run("an unknown status", func(t *testing.T) {
		_, err := parseLlist(strings.Replace(transcript(t, "llist-T.txt"), "JobStatus: T", "JobStatus: Z", 1))
		require.ErrorIs(t, err, failure.ErrInvalid)
		require.Contains(t, err.Error(), `JobStatus "Z" is not one osflow knows`)
	})
	t.Run("no status", func(t *testing.T) {
		_, err := parseLlist(strings.Replace(transcript(t, "llist-T.txt"), "JobStatus: T\n", "", 1))
		require.ErrorContains(t, err, "has no JobStatus")
	})
	t.Run("a bad number", func(t *testing.T) {
		_, err := parseLlist(strings.Replace(transcript(t, "llist-T.txt"), "JobFiles: 2", "JobFiles: two", 1))
		require.ErrorContains(t, err, `JobFiles "two" is not a number`)
	})
	t.Run("no JobId after run", func(t *testing.T) {
		_, err := parseRun(strings.Replace(transcript(t, "run-queued.txt"), "Job queued. JobId=1", "Job not run.", 1))
		require.ErrorContains(t, err, "no JobId in its answer")
	})
	t.Run("warnings are success", func(t *testing.T) {
		// Bacula 9.6 ends a job with warnings as T; later versions say W.
		jobs, err := parseLlist(strings.Replace(transcript(t, "llist-T.txt"), "JobStatus: T", "JobStatus: W", 1))
		require.NoError(t, err)
		require.True(t, jobs[0].Succeeded())
	})
}

// scripted answers bconsole commands from a list, as the real one did.
type scripted struct {
	t       *testing.T
	answers []struct{ cmd, out string }
}

func (s *scripted) console(_ context.Context, cmd string) (string, error) {
	s.t.Helper()
	require.NotEmpty(s.t, s.answers, "unexpected command %q", cmd)
	a := s.answers[0]
	s.answers = s.answers[1:]
	require.Equal(s.t, a.cmd, cmd)
	return a.out, nil
}

func TestRunWaitsThroughQueuedAndRunning(t *testing.T) {
	s := &scripted{t: t, answers: []struct{ cmd, out string }{
		{`llist job="ok"`, transcript(t, "llist-none.txt")},
		{`run job="ok" comment="osflow:k-queued" level=Full yes`, strings.Replace(transcript(t, "run-queued.txt"), "JobId=1", "JobId=3", 1)},
		{"llist jobid=3", transcript(t, "llist-queued.txt")},
		{"llist jobid=3", strings.Replace(strings.Replace(transcript(t, "llist-running.txt"), "JobId: 2", "JobId: 3", 1), "osflow:k-gated", "osflow:k-queued", 1)},
		{"llist jobid=3", strings.Replace(strings.Replace(transcript(t, "llist-T.txt"), "JobId: 1", "JobId: 3", 1), "osflow:promotion-r1/backup", "osflow:k-queued", 1)},
	}}
	b := NewBacula(config.Bacula{Job: "ok", Level: "Full"})
	b.console = s.console
	var slept []time.Duration
	b.sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	var seen []string
	job, err := b.Run(context.Background(), "k-queued", func(j Job) { seen = append(seen, j.Status) })
	require.NoError(t, err)
	require.Equal(t, 3, job.ID)
	require.Equal(t, []string{"C", "C", "R", "T"}, seen)
	require.Equal(t, []time.Duration{15 * time.Second, 15 * time.Second, 15 * time.Second}, slept)
	require.Empty(t, s.answers)
}

func TestRunFindsTheJobOfItsKey(t *testing.T) {
	// Two earlier jobs of the resource; the second is ours and failed.
	list := transcript(t, "llist-T.txt") + "\n" + transcript(t, "llist-E.txt")
	s := &scripted{t: t, answers: []struct{ cmd, out string }{{`llist job="ok"`, list}}}
	b := NewBacula(config.Bacula{Job: "ok"})
	b.console = s.console
	job, err := b.Run(context.Background(), "k-error", nil)
	require.ErrorIs(t, err, failure.ErrFailed)
	require.Equal(t, "E", job.Status)
	require.Contains(t, err.Error(), "terminated in error")
	require.Empty(t, s.answers, "no run: the job of the key was found")
}

func TestRunTimesOut(t *testing.T) {
	s := &scripted{t: t, answers: []struct{ cmd, out string }{{`llist job="gated"`, transcript(t, "llist-running.txt")}}}
	b := NewBacula(config.Bacula{Job: "gated", Timeout: config.Duration{Duration: time.Nanosecond}})
	b.console = s.console
	_, err := b.Run(context.Background(), "k-gated", nil)
	require.ErrorContains(t, err, "is still running after 1ns")
	require.True(t, failure.IsRetryable(err))
}

func TestNoneRunsNothing(t *testing.T) {
	r := New(config.Backup{}, nil)
	job, err := r.Run(context.Background(), "k", nil)
	require.NoError(t, err)
	require.Zero(t, job)
	_, err = r.Run(context.Background(), "bad key", nil)
	require.ErrorIs(t, err, failure.ErrInvalid)
	require.IsType(t, &Bacula{}, New(config.Backup{Bacula: &config.Bacula{Job: "x"}}, nil))
}
