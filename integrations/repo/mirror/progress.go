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

// Counts is what a sync fetched, earlier attempts of it included.
type Counts struct {
	Downloaded      int   // files fetched into the pool
	DownloadedBytes int64 // their bytes
	Retries         int   // retries of single files, spent from the sync's budget
}

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

// resume starts the counts from what earlier attempts of the sync did.
func (r *reporter) resume(c Counts) {
	r.mu.Lock()
	r.p.Counts = c
	r.mu.Unlock()
}

// stage reports the end counts of the current stage if not reported yet,
// then starts a stage with its totals and reports it.
func (r *reporter) stage(name string, files int, bytes int64) {
	r.moveOn(func(p *Progress) {
		*p = Progress{Repo: p.Repo, Stage: name, FilesTotal: files, BytesTotal: bytes, Counts: p.Counts}
	})
}

// next is stage carrying on with the current counts and totals.
func (r *reporter) next(name string) {
	r.moveOn(func(p *Progress) { p.Stage = name })
}

// moveOn reports the counts of the stage left unless reported already,
// then changes them for the next stage and reports its start.
func (r *reporter) moveOn(change func(p *Progress)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dirty {
		r.emit()
	}
	change(&r.p)
	r.emit()
}

// grow adds work the current stage has learnt it has to do.
func (r *reporter) grow(files int, bytes int64) {
	r.update(func(p *Progress) { p.FilesTotal += files; p.BytesTotal += bytes })
}

// add counts done work.
func (r *reporter) add(files int, bytes int64) {
	r.update(func(p *Progress) { p.FilesDone += files; p.BytesDone += bytes })
}

// update changes the counts and reports if the last report is old enough.
func (r *reporter) update(change func(p *Progress)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	change(&r.p)
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

// fetched counts a file of n bytes stored in the pool.
func (r *reporter) fetched(n int64) {
	r.update(func(p *Progress) { p.FilesDone++; p.Downloaded++; p.DownloadedBytes += n })
}

// streamed counts k bytes received, so that one large file shows progress.
func (r *reporter) streamed(k int) { r.add(0, int64(k)) }

// retried counts a retry of one file.
func (r *reporter) retried() { r.update(func(p *Progress) { p.Retries++ }) }

// flush reports the counts if they changed since the last report: a sync
// that fails reports what it fetched, so the attempt after it counts on.
func (r *reporter) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dirty {
		r.emit()
	}
}

// counts is what the sync fetched so far.
func (r *reporter) counts() Counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.p.Counts
}
