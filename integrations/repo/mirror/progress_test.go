package mirror

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReporterThrottles(t *testing.T) {
	now := time.Unix(1000, 0)
	var got []Progress
	r := newReporter("r", func(p Progress) { got = append(got, p) }, func() time.Time { return now })
	p := func(stage string, fd, ft int, bd, bt int64) Progress {
		return Progress{Repo: "r", Stage: stage, FilesDone: fd, FilesTotal: ft, BytesDone: bd, BytesTotal: bt}
	}

	r.stage(StagePackages, 3, 300) // reported: stage change
	r.add(0, 100)                  // too soon after the stage report
	now = now.Add(100 * time.Millisecond)
	r.add(1, 0) // still too soon
	now = now.Add(150 * time.Millisecond)
	r.add(0, 100)              // 250 ms since the last report
	r.add(1, 100)              // too soon
	r.stage(StageCommit, 0, 0) // flushes the end counts, then reports the new stage
	r.stage(StageDone, 0, 0)   // nothing pending: one report

	require.Equal(t, []Progress{
		p(StagePackages, 0, 3, 0, 300),
		p(StagePackages, 1, 3, 200, 300),
		p(StagePackages, 2, 3, 300, 300),
		p(StageCommit, 0, 0, 0, 0),
		p(StageDone, 0, 0, 0, 0),
	}, got)
}

func TestReporterWithoutCallback(t *testing.T) {
	r := newReporter("r", nil, time.Now)
	r.stage(StageRepomd, 1, 0)
	r.streamed(10)
	r.fetched(10)
	require.Equal(t, Counts{Downloaded: 1, DownloadedBytes: 10}, r.counts())
}

// TestReporterKeepsCounts covers a sync resumed by a retried activity:
// its counts start from the earlier attempts' and survive stage changes.
func TestReporterKeepsCounts(t *testing.T) {
	var last Progress
	r := newReporter("r", func(p Progress) { last = p }, time.Now)
	r.resume(Counts{Downloaded: 7, DownloadedBytes: 700, Retries: 2})
	r.stage(StageMetadata, 2, 20)
	r.fetched(10)
	r.retried()
	r.stage(StagePrimary, 0, 0)
	want := Counts{Downloaded: 8, DownloadedBytes: 710, Retries: 3}
	require.Equal(t, want, r.counts())
	require.Equal(t, Progress{Repo: "r", Stage: StagePrimary, Counts: want}, last)
}
