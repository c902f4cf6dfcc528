package mirror

import (
	"sync"
	"time"
)

// Stages a Sync reports, in order.
const (
	StageRepomd   = "repomd"   // fetch and verify repomd.xml
	StageMetadata = "metadata" // fetch the files repomd.xml names
	StagePrimary  = "primary"  // read the package list, fetching packages already
	StagePackages = "packages" // finish fetching the packages
	StageCommit   = "commit"   // flush and commit the snapshot
	StageDone     = "done"
)

// progressEvery is how often byte and file progress is reported at most.
const progressEvery = 250 * time.Millisecond

// reporter calls a progress callback at every stage change and at most
// every progressEvery in between. The callback is never called concurrently.
type reporter struct {
	mu    sync.Mutex
	fn    func(Progress)
	now   func() time.Time
	every time.Duration
	last  time.Time
	dirty bool // counts changed since the last report
	p     Progress
}

func newReporter(repoName string, fn func(Progress), now func() time.Time) *reporter {
	return &reporter{fn: fn, now: now, every: progressEvery, p: Progress{Repo: repoName}}
}

// stage reports the end counts of the current stage if not reported yet,
// then starts a stage with its totals and reports it.
func (r *reporter) stage(name string, files int, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dirty {
		r.emit()
	}
	r.p = Progress{Repo: r.p.Repo, Stage: name, FilesTotal: files, BytesTotal: bytes}
	r.emit()
}

// next moves on to stage name with the current counts, reporting the
// last counts of the stage left and the start of the new one.
func (r *reporter) next(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dirty {
		r.emit()
	}
	r.p.Stage = name
	r.emit()
}

// grow adds work the current stage has learnt it has to do.
func (r *reporter) grow(files int, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.p.FilesTotal += files
	r.p.BytesTotal += bytes
	r.dirty = true
}

// add counts done work and reports if the last report is old enough.
func (r *reporter) add(files int, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.p.FilesDone += files
	r.p.BytesDone += bytes
	r.dirty = true
	if r.now().Sub(r.last) >= r.every {
		r.emit()
	}
}

func (r *reporter) emit() {
	r.last, r.dirty = r.now(), false
	if r.fn != nil {
		r.fn(r.p)
	}
}

// Write counts streamed bytes, so that one large file shows progress.
func (r *reporter) Write(p []byte) (int, error) {
	r.add(0, int64(len(p)))
	return len(p), nil
}
