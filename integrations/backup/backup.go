// Package backup runs the backup that precedes a production switch: a
// Bacula job through bconsole, or a log line when none is configured.
//
// A backup is keyed. Bacula's run command takes a comment, which the
// catalog keeps with the job; osflow writes "osflow:KEY" there, and before
// running a job it looks for one with that comment. A retry of Run with the
// same key, on any worker and after any crash, therefore waits for the job
// the first attempt started (or returns how it ended) instead of starting
// another.
//
// Errors are classified with package failure; a job that ended in error
// wraps failure.ErrFailed.
package backup

import (
	"context"
	"fmt"
	"regexp"

	"go.uber.org/zap"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
)

// Job is what the catalog says of one job.
type Job struct {
	ID      int
	Name    string // the Job resource
	Status  string // JobStatus, one letter
	Level   string // F, I, D
	Files   int64
	Bytes   int64
	Errors  int
	Comment string
}

// Done reports whether the job has ended, well or not.
func (j Job) Done() bool { return succeeded[j.Status] || failed[j.Status] }

// Succeeded reports whether the job ended well.
func (j Job) Succeeded() bool { return succeeded[j.Status] }

// StatusText says what the status letter means.
func (j Job) StatusText() string {
	if s, ok := statusText[j.Status]; ok {
		return s
	}
	return "unknown status " + j.Status
}

// JobStatus letters, from Bacula's jcr.h and the catalog documentation.
var (
	succeeded = map[string]bool{"T": true, "W": true}
	failed    = map[string]bool{"E": true, "e": true, "f": true, "A": true, "I": true, "D": true}
	// running are the states of a job that has not ended: created, running,
	// blocked, and the many ways of waiting.
	running    = map[string]bool{"C": true, "R": true, "B": true, "L": true, "l": true, "q": true, "F": true, "S": true, "m": true, "M": true, "s": true, "j": true, "c": true, "d": true, "t": true, "p": true, "a": true, "i": true}
	statusText = map[string]string{
		"C": "created, not yet running", "R": "running", "B": "blocked",
		"T": "completed successfully", "W": "completed with warnings",
		"E": "terminated in error", "e": "non-fatal error", "f": "fatal error",
		"D": "verify found differences", "A": "canceled", "I": "incomplete",
		"L": "committing data", "l": "despooling data", "q": "queued waiting for a device",
		"F": "waiting for the client", "S": "waiting for the storage daemon",
		"m": "waiting for a new volume", "M": "waiting for a volume mount",
		"s": "waiting for the storage resource", "j": "waiting for the job resource",
		"c": "waiting for the client resource", "d": "waiting for a job slot (Maximum Concurrent Jobs)",
		"t": "waiting for its start time", "p": "waiting for jobs of higher priority",
		"a": "despooling attributes", "i": "inserting file records",
	}
)

// Progress is told the job's state at every check, for heartbeats.
type Progress func(Job)

// Runner runs the configured backup.
type Runner interface {
	// Run runs the backup of key (or finds the one a previous attempt
	// started), waits for it, and returns it. A job that ended in error
	// is returned with an error wrapping failure.ErrFailed.
	Run(ctx context.Context, key string, progress Progress) (Job, error)
}

// New returns the runner cfg describes: Bacula, or None.
func New(cfg config.Backup, log *zap.Logger) Runner {
	if cfg.Bacula != nil {
		return NewBacula(*cfg.Bacula)
	}
	return NewNone(log)
}

var keyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+=-]{0,199}$`)

func checkKey(key string) error {
	if !keyRE.MatchString(key) {
		return fmt.Errorf("%w: operation key %q (want letters, digits and ._:/@+=-, at most 200)", failure.ErrInvalid, key)
	}
	return nil
}

// None only logs: the embedded default, for sites that back up otherwise.
type None struct{ log *zap.Logger }

// NewNone returns a runner that logs to log (nil: nowhere).
func NewNone(log *zap.Logger) *None {
	if log == nil {
		log = zap.NewNop()
	}
	return &None{log: log}
}

// Run logs and returns an empty job.
func (n *None) Run(_ context.Context, key string, _ Progress) (Job, error) {
	if err := checkKey(key); err != nil {
		return Job{}, err
	}
	n.log.Info("backup not configured: nothing run", zap.String("key", key))
	return Job{}, nil
}
