package backup

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
	"github.com/osflow/osflow/internal/testtool"
)

var update = flag.Bool("update", false, "record the bconsole transcripts in testdata/ from the real Bacula")

// sbin finds a Bacula program: Debian installs them in /usr/sbin, which
// is not in every user's PATH.
func sbin(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := "/usr/sbin/" + name
	if _, err := os.Stat(p); err != nil {
		testtool.Missing(t, name+" is not installed (make test installs bacula-director, bacula-sd, bacula-fd and bacula-console)")
	}
	return p
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type baculaRun struct {
	dir, bconsole, console string
	gate                   string // the "gated" job waits until this file exists
}

// startBacula runs Debian's bacula-dir (SQLite catalog), bacula-sd (a
// file device) and bacula-fd on free loopback ports, each in the
// foreground with its configuration and working directory in a temp dir.
// The Director runs one job at a time, so a second job waits in the queue.
func startBacula(t *testing.T) baculaRun {
	t.Helper()
	dirBin, sdBin, fdBin := sbin(t, "bacula-dir"), sbin(t, "bacula-sd"), sbin(t, "bacula-fd")
	r := baculaRun{dir: t.TempDir(), bconsole: sbin(t, "bconsole")}
	testtool.Need(t, "sqlite3")
	d := r.dir
	for _, sub := range []string{"dir", "sd", "fd", "volumes", "data"} {
		require.NoError(t, os.MkdirAll(filepath.Join(d, sub), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(d, "data", "a.txt"), []byte("hello"), 0o644))
	r.gate = filepath.Join(d, "gate")
	require.NoError(t, os.WriteFile(filepath.Join(d, "wait-for-gate"), []byte("#!/bin/sh\nwhile [ ! -e "+r.gate+" ]; do sleep 0.1; done\n"), 0o755))

	// The catalog, made by Debian's own script, pointed at our directory.
	script, err := os.ReadFile("/usr/share/bacula-director/make_sqlite3_tables")
	if err != nil {
		testtool.Missing(t, "make_sqlite3_tables of bacula-director-sqlite3: "+err.Error())
	}
	s := strings.Replace(string(script), "cd /var/lib/bacula", "cd "+filepath.Join(d, "dir"), 1)
	s = strings.Replace(s, "XXX_DBNAME_XXX", "bacula", 1)
	out, err := exec.Command("sh", "-c", s).CombinedOutput()
	require.NoError(t, err, "%s", out)

	pDir, pFD, pSD := freePort(t), freePort(t), freePort(t)
	dirConf := fmt.Sprintf(`Director {
  Name = t-dir
  DIRport = %[2]d
  DirAddress = 127.0.0.1
  QueryFile = "/etc/bacula/scripts/query.sql"
  WorkingDirectory = "%[1]s/dir"
  PidDirectory = "%[1]s/dir"
  Maximum Concurrent Jobs = 1
  FD Connect Timeout = 2 sec
  Password = "console-password"
  Messages = Daemon
}
Messages {
  Name = Daemon
  append = "%[1]s/dir.log" = all, !skipped
}
Messages {
  Name = Standard
  append = "%[1]s/dir.log" = all, !skipped
  catalog = all
}
Catalog {
  Name = MyCatalog
  dbname = "bacula"; dbuser = ""; dbpassword = ""
}
Client {
  Name = t-fd
  Address = 127.0.0.1
  FDPort = %[3]d
  Catalog = MyCatalog
  Password = "fd-password"
}
Client {
  Name = dead-fd
  Address = 127.0.0.1
  FDPort = 1
  Catalog = MyCatalog
  Password = "fd-password"
}
Storage {
  Name = t-sd
  Address = 127.0.0.1
  SDPort = %[4]d
  Password = "sd-password"
  Device = FileDev
  Media Type = File
}
Pool {
  Name = File
  Pool Type = Backup
  Label Format = "Vol-"
  Maximum Volume Bytes = 50M
}
FileSet {
  Name = data
  Include {
    Options { signature = MD5 }
    File = %[1]s/data
  }
}
JobDefs {
  Name = defaults
  Type = Backup
  Level = Full
  Client = t-fd
  FileSet = data
  Storage = t-sd
  Pool = File
  Messages = Standard
}
Job {
  Name = ok
  JobDefs = defaults
}
Job {
  Name = gated
  JobDefs = defaults
  RunBeforeJob = "%[1]s/wait-for-gate"
}
Job {
  Name = before-fails
  JobDefs = defaults
  RunBeforeJob = "/bin/false"
}
Job {
  Name = dead-client
  JobDefs = defaults
  Client = dead-fd
}
`, d, pDir, pFD, pSD)
	sdConf := fmt.Sprintf(`Storage {
  Name = t-sd
  SDPort = %[2]d
  SDAddress = 127.0.0.1
  WorkingDirectory = "%[1]s/sd"
  Pid Directory = "%[1]s/sd"
}
Director {
  Name = t-dir
  Password = "sd-password"
}
Device {
  Name = FileDev
  Media Type = File
  Archive Device = %[1]s/volumes
  LabelMedia = yes
  Random Access = yes
  AutomaticMount = yes
  RemovableMedia = no
  AlwaysOpen = no
}
Messages {
  Name = Standard
  director = t-dir = all
}
`, d, pSD)
	fdConf := fmt.Sprintf(`FileDaemon {
  Name = t-fd
  FDport = %[2]d
  FDAddress = 127.0.0.1
  WorkingDirectory = "%[1]s/fd"
  Pid Directory = "%[1]s/fd"
}
Director {
  Name = t-dir
  Password = "fd-password"
}
Messages {
  Name = Standard
  director = t-dir = all, !skipped, !restored
}
`, d, pFD)
	r.console = filepath.Join(d, "bconsole.conf")
	consoleConf := fmt.Sprintf("Director {\n  Name = t-dir\n  DIRport = %d\n  address = 127.0.0.1\n  Password = \"console-password\"\n}\n", pDir)
	for name, text := range map[string]string{"bacula-dir.conf": dirConf, "bacula-sd.conf": sdConf, "bacula-fd.conf": fdConf, "bconsole.conf": consoleConf} {
		require.NoError(t, os.WriteFile(filepath.Join(d, name), []byte(text), 0o600))
	}
	for _, p := range []struct{ bin, conf string }{{sdBin, "bacula-sd.conf"}, {fdBin, "bacula-fd.conf"}, {dirBin, "bacula-dir.conf"}} {
		conf := filepath.Join(d, p.conf)
		out, err := exec.Command(p.bin, "-t", "-c", conf).CombinedOutput()
		require.NoError(t, err, "%s -t: %s", p.bin, out)
		cmd := exec.Command(p.bin, "-f", "-c", conf)
		log, err := os.Create(conf + ".out")
		require.NoError(t, err)
		cmd.Stdout, cmd.Stderr = log, log
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			log.Close()
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			// The Director's messages, and what each daemon printed (a
			// file it could not open, a port it could not bind).
			for _, name := range []string{"dir.log", "bacula-dir.conf.out", "bacula-sd.conf.out", "bacula-fd.conf.out"} {
				b, _ := os.ReadFile(filepath.Join(d, name))
				t.Logf("%s:\n%s", name, b)
			}
		}
	})
	require.Eventually(t, func() bool {
		out, err := exec.Command(r.bconsole, "-n", "-c", r.console).CombinedOutput()
		return err == nil && strings.Contains(string(out), "1000 OK")
	}, 30*time.Second, 100*time.Millisecond, "bacula-dir does not answer bconsole")
	return r
}

// transcripts records what bconsole printed, by command.
type transcripts struct {
	mu  sync.Mutex
	out map[string]string
}

func (r baculaRun) runner(t *testing.T, job string, tr *transcripts) *Bacula {
	b := NewBacula(config.Bacula{Job: job, Bconsole: r.bconsole, Config: r.console,
		PollEvery: config.Duration{Duration: 100 * time.Millisecond}, Timeout: config.Duration{Duration: 2 * time.Minute},
		CommandTimeout: config.Duration{Duration: 30 * time.Second}})
	if tr != nil {
		real := b.console
		b.console = func(ctx context.Context, cmd string) (string, error) {
			out, err := real(ctx, cmd)
			tr.mu.Lock()
			defer tr.mu.Unlock()
			tr.out[cmd] = out
			return out, err
		}
	}
	return b
}

// record writes a transcript to testdata with -update.
func record(t *testing.T, name, out string) {
	t.Helper()
	if !*update {
		return
	}
	require.NotEmpty(t, out, name)
	require.NoError(t, os.WriteFile(filepath.Join("testdata", name), []byte(out), 0o644))
}

// rawBconsole is what bconsole prints, whether it fails or not.
func (r baculaRun) rawBconsole(conf, command string) string {
	cmd := exec.Command(r.bconsole, "-n", "-c", conf)
	cmd.Stdin = strings.NewReader(command + "\n")
	out, _ := cmd.CombinedOutput()
	return string(out)
}

func (r baculaRun) bconsoleOut(t *testing.T, command string) string {
	cmd := exec.Command(r.bconsole, "-n", "-c", r.console)
	cmd.Stdin = strings.NewReader(command + "\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// jobsOf counts the catalog's jobs of one Job resource.
func (r baculaRun) jobsOf(t *testing.T, name string) int {
	jobs, err := parseLlist(r.bconsoleOut(t, "llist job="+name))
	require.NoError(t, err)
	return len(jobs)
}

func TestBaculaRealDaemons(t *testing.T) {
	r := startBacula(t)
	ctx := context.Background()
	tr := &transcripts{out: map[string]string{}}

	t.Run("a job that succeeds, and its retry", func(t *testing.T) {
		b := r.runner(t, "ok", tr)
		var seen []string
		job, err := b.Run(ctx, "promotion-r1/backup", func(j Job) { seen = append(seen, j.Status) })
		require.NoError(t, err)
		require.Equal(t, "T", job.Status)
		require.Equal(t, "ok", job.Name)
		require.Equal(t, int64(2), job.Files) // the directory and a.txt
		require.Equal(t, "osflow:promotion-r1/backup", job.Comment)
		require.Equal(t, "T", seen[len(seen)-1])
		record(t, "run-queued.txt", tr.out[`run job="ok" comment="osflow:promotion-r1/backup" yes`])
		record(t, "llist-T.txt", tr.out[fmt.Sprintf("llist jobid=%d", job.ID)])

		again, err := b.Run(ctx, "promotion-r1/backup", nil)
		require.NoError(t, err)
		require.Equal(t, job.ID, again.ID, "a retry finds the job instead of running another")
		require.Equal(t, 1, r.jobsOf(t, "ok"))
	})

	t.Run("crash points", func(t *testing.T) { testBaculaCrashPoints(t, r) })

	t.Run("running, queued behind it, then both done", func(t *testing.T) {
		gated, queued := r.runner(t, "gated", tr), r.runner(t, "ok", tr)
		var mu sync.Mutex
		states := map[string]Job{}
		watch := func(name string) Progress {
			return func(j Job) { mu.Lock(); states[name] = j; mu.Unlock() }
		}
		state := func(name string) Job { mu.Lock(); defer mu.Unlock(); return states[name] }
		type result struct {
			job Job
			err error
		}
		done := make(chan result, 2)
		go func() { j, err := gated.Run(ctx, "k-gated", watch("gated")); done <- result{j, err} }()
		require.Eventually(t, func() bool { return state("gated").Status == "R" }, time.Minute, 20*time.Millisecond)
		go func() { j, err := queued.Run(ctx, "k-queued", watch("queued")); done <- result{j, err} }()
		require.Eventually(t, func() bool { return state("queued").ID > 0 }, time.Minute, 20*time.Millisecond)
		// While the gate is shut the first job runs its RunBeforeJob and the
		// second waits for a job slot.
		running := r.bconsoleOut(t, fmt.Sprintf("llist jobid=%d", state("gated").ID))
		waiting := r.bconsoleOut(t, fmt.Sprintf("llist jobid=%d", state("queued").ID))
		jobs, err := parseLlist(running)
		require.NoError(t, err)
		require.Equal(t, "R", jobs[0].Status)
		jobs, err = parseLlist(waiting)
		require.NoError(t, err)
		require.Equal(t, "C", jobs[0].Status)
		record(t, "llist-running.txt", running)
		record(t, "llist-queued.txt", waiting)

		require.NoError(t, os.WriteFile(r.gate, nil, 0o644))
		for range 2 {
			res := <-done
			require.NoError(t, res.err)
			require.Equal(t, "T", res.job.Status)
		}
		require.NoError(t, os.Remove(r.gate))
	})

	t.Run("failures", func(t *testing.T) {
		for _, tt := range []struct {
			job, key, status, file string
		}{
			{"before-fails", "k-error", "E", "llist-E.txt"},
			{"dead-client", "k-fatal", "f", "llist-f.txt"},
		} {
			b := r.runner(t, tt.job, tr)
			job, err := b.Run(ctx, tt.key, nil)
			require.ErrorIs(t, err, failure.ErrFailed)
			require.False(t, failure.IsRetryable(err))
			require.Equal(t, tt.status, job.Status)
			require.Contains(t, err.Error(), fmt.Sprintf("Bacula job %s (JobId %d) ended with JobStatus %s", tt.job, job.ID, tt.status))
			record(t, tt.file, tr.out[fmt.Sprintf("llist jobid=%d", job.ID)])

			again, err := b.Run(ctx, tt.key, nil)
			require.ErrorIs(t, err, failure.ErrFailed, "a retry returns the recorded outcome")
			require.Equal(t, job.ID, again.ID)
			require.Equal(t, 1, r.jobsOf(t, tt.job))
		}
	})

	t.Run("cancelled while queued", func(t *testing.T) {
		// Bacula cancels a queued job at once; a running RunBeforeJob would
		// finish first. So one job holds the slot and the one behind it
		// is cancelled.
		holder := r.runner(t, "gated", tr)
		held := make(chan error, 1)
		go func() { _, err := holder.Run(ctx, "k-holder", nil); held <- err }()
		var once sync.Once
		job, err := r.runner(t, "ok", tr).Run(ctx, "k-cancel", func(j Job) {
			if j.Status == "C" {
				once.Do(func() { r.bconsoleOut(t, fmt.Sprintf("cancel jobid=%d yes", j.ID)) })
			}
		})
		require.ErrorIs(t, err, failure.ErrFailed)
		require.Equal(t, "A", job.Status)
		require.Contains(t, err.Error(), "canceled")
		record(t, "llist-A.txt", tr.out[fmt.Sprintf("llist jobid=%d", job.ID)])
		require.NoError(t, os.WriteFile(r.gate, nil, 0o644))
		require.NoError(t, <-held)
	})

	t.Run("refusals", func(t *testing.T) {
		_, err := r.runner(t, "nosuch", tr).Run(ctx, "k-nosuch", nil)
		require.ErrorIs(t, err, failure.ErrNotFound)
		require.Contains(t, err.Error(), `Job "nosuch" not found`)
		record(t, "run-not-found.txt", r.rawBconsole(r.console, `run job="nosuch" comment="osflow:k-nosuch" yes`))
		record(t, "llist-none.txt", tr.out[`llist job="nosuch"`])

		conf, err := os.ReadFile(r.console)
		require.NoError(t, err)
		wrong := filepath.Join(r.dir, "wrong-password.conf")
		require.NoError(t, os.WriteFile(wrong, []byte(strings.Replace(string(conf), "console-password", "guess", 1)), 0o600))
		b := r.runner(t, "ok", nil)
		b.cfg.Config = wrong
		_, err = b.Run(ctx, "k-auth", nil)
		require.ErrorIs(t, err, failure.ErrAuth)
		require.Contains(t, err.Error(), "Director refused bconsole's password")
		record(t, "auth-refused.txt", r.rawBconsole(wrong, "status dir"))

		down := filepath.Join(r.dir, "down.conf")
		require.NoError(t, os.WriteFile(down, []byte(fmt.Sprintf("Director {\n  Name = t-dir\n  DIRport = %d\n  address = 127.0.0.1\n  Password = \"x\"\n}\n", freePort(t))), 0o600))
		b.cfg.Config = down
		_, err = b.Run(ctx, "k-down", nil)
		require.Error(t, err)
		require.True(t, failure.IsRetryable(err), "a Director that is down may come back: %v", err)
	})
}
