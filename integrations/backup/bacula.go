package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
)

// Bacula runs a job through bconsole:
//
//	run job=NAME comment="osflow:KEY" [level=L] yes   -> Job queued. JobId=N
//	llist jobid=N                                     -> JobStatus: R ... T
//
// each command in its own bconsole process (so that a question bconsole
// asks cannot swallow the next command), bounded by CommandTimeout. Before
// running, "llist job=NAME" finds a job of the same key.
type Bacula struct {
	cfg   config.Bacula
	sleep func(context.Context, time.Duration) error
	// console runs one bconsole command and returns what it printed.
	console func(ctx context.Context, command string) (string, error)
	// crash, set by tests only, is called after each durable step (the
	// job started: atStarted); an error it returns fails Run there.
	crash func(point string) error
}

// atStarted is the crash point right after the Director queued the job:
// it runs whatever happens to this worker.
const atStarted = "backup/started"

// NewBacula returns a runner of cfg.Job.
func NewBacula(cfg config.Bacula) *Bacula {
	if cfg.PollEvery.Duration <= 0 {
		cfg.PollEvery.Duration = 15 * time.Second
	}
	if cfg.CommandTimeout.Duration <= 0 {
		cfg.CommandTimeout.Duration = time.Minute
	}
	if cfg.Timeout.Duration <= 0 {
		cfg.Timeout.Duration = 6 * time.Hour
	}
	b := &Bacula{cfg: cfg, sleep: failure.Sleep}
	b.console = b.bconsole
	return b
}

func comment(key string) string { return "osflow:" + key }

// Run runs the job of key, or finds the one an earlier attempt started,
// and waits for it, telling progress at every check.
func (b *Bacula) Run(ctx context.Context, key string, progress Progress) (Job, error) {
	if err := checkKey(key); err != nil {
		return Job{}, err
	}
	job, found, err := b.find(ctx, key)
	if err != nil {
		return Job{}, err
	}
	if !found {
		cmd := fmt.Sprintf("run job=%q comment=%q", b.cfg.Job, comment(key))
		if b.cfg.Level != "" {
			cmd += " level=" + b.cfg.Level
		}
		out, err := b.console(ctx, cmd+" yes")
		if err != nil {
			return Job{}, err
		}
		id, err := parseRun(out)
		if err != nil {
			return Job{}, fmt.Errorf("run Bacula job %s: %w", b.cfg.Job, err)
		}
		job = Job{ID: id, Name: b.cfg.Job, Status: "C", Comment: comment(key)}
		if b.crash != nil {
			if err := b.crash(atStarted); err != nil {
				return Job{}, err
			}
		}
	}
	return b.wait(ctx, job, progress)
}

// find looks for the job of key among the jobs of cfg.Job in the catalog.
// If there are several (two workers raced), the first one counts.
func (b *Bacula) find(ctx context.Context, key string) (Job, bool, error) {
	out, err := b.console(ctx, fmt.Sprintf("llist job=%q", b.cfg.Job))
	if err != nil {
		return Job{}, false, err
	}
	jobs, err := parseLlist(out)
	if err != nil {
		return Job{}, false, fmt.Errorf("find the Bacula job of %s: %w", key, err)
	}
	var mine []Job
	for _, j := range jobs {
		if j.Comment == comment(key) {
			mine = append(mine, j)
		}
	}
	if len(mine) == 0 {
		return Job{}, false, nil
	}
	return slices.MinFunc(mine, func(a, b Job) int { return a.ID - b.ID }), true, nil
}

// wait polls the job until it ends or Timeout passes.
func (b *Bacula) wait(ctx context.Context, job Job, progress Progress) (Job, error) {
	deadline := time.Now().Add(b.cfg.Timeout.Duration)
	for {
		if progress != nil {
			progress(job)
		}
		if job.Done() {
			if job.Succeeded() {
				return job, nil
			}
			return job, fmt.Errorf("%w: Bacula job %s (JobId %d) ended with JobStatus %s: %s, %d errors; see `llist jobid=%d` and the job log in bconsole",
				failure.ErrFailed, job.Name, job.ID, job.Status, job.StatusText(), job.Errors, job.ID)
		}
		if time.Now().After(deadline) {
			return job, fmt.Errorf("Bacula job %s (JobId %d) is still %s after %s (backup.bacula.timeout)",
				job.Name, job.ID, job.StatusText(), b.cfg.Timeout.Duration)
		}
		if err := b.sleep(ctx, b.cfg.PollEvery.Duration); err != nil {
			return job, fmt.Errorf("wait for Bacula job %d: %w", job.ID, err)
		}
		out, err := b.console(ctx, fmt.Sprintf("llist jobid=%d", job.ID))
		if err != nil {
			return job, err
		}
		jobs, err := parseLlist(out)
		if err != nil {
			return job, fmt.Errorf("Bacula job %d: %w", job.ID, err)
		}
		if len(jobs) != 1 || jobs[0].ID != job.ID {
			return job, fmt.Errorf("%w: Bacula job %d is not in the catalog (pruned, or another catalog?): %s", failure.ErrNotFound, job.ID, tail(out))
		}
		job = jobs[0]
	}
}

// bconsole runs one command in a bconsole process of its own.
func (b *Bacula) bconsole(ctx context.Context, command string) (string, error) {
	if _, err := os.Stat(b.cfg.Config); err != nil {
		return "", fmt.Errorf("%w: bconsole config %s: %w", failure.ErrInvalid, b.cfg.Config, err)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.CommandTimeout.Duration)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.cfg.Bconsole, "-n", "-c", b.cfg.Config)
	cmd.Stdin = strings.NewReader(command + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	text := out.String()
	if cerr := consoleError(text); cerr != nil {
		return "", fmt.Errorf("bconsole %s: %w", verb(command), cerr)
	}
	var ee *exec.Error
	switch {
	case errors.As(err, &ee):
		return "", fmt.Errorf("%w: bconsole: %w (backup.bacula.bconsole)", failure.ErrInvalid, err)
	case ctx.Err() != nil:
		return "", fmt.Errorf("bconsole %s: no answer within %s: %w", verb(command), b.cfg.CommandTimeout.Duration, ctx.Err())
	case err != nil:
		// bconsole exits 1 when it cannot reach the Director: retried.
		return "", fmt.Errorf("bconsole %s: %w: %s", verb(command), err, tail(text))
	}
	return text, nil
}

// verb is the command's first word, for messages.
func verb(command string) string {
	v, _, _ := strings.Cut(command, " ")
	return v
}
