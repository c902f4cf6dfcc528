package main

// Measured work runs in child processes, so that each one's peak RSS is its
// own: peer tools directly, and Go code by re-executing this binary with a
// hidden subcommand.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// Hidden subcommands of the benchmark binary.
const (
	cmdFetch      = "bench-fetch" // bench-fetch LIST URL OUTDIR
	cmdOsflowSync = "osflow-sync" // osflow-sync STORE URL
	// osflow-sync-many STORE URL...: every URL at once, as repos r00, r01...
	cmdOsflowSyncMany = "osflow-sync-many"
)

// envCPUProfile names a file a child writes a CPU profile to.
const envCPUProfile = "BENCH_CPUPROFILE"

// measured is one child process run.
type measured struct {
	Wall      time.Duration
	CPU       time.Duration // user + system
	MaxRSSKiB int64
	Stdout    []byte
}

// runMeasured runs argv, logging its stderr (and stdout unless captured) to
// logPath, and returns its wall time and peak RSS.
func runMeasured(ctx context.Context, logPath string, env []string, argv ...string) (measured, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return measured{}, err
	}
	defer log.Close()
	fmt.Fprintf(log, "$ %s\n", strings.Join(argv, " "))
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout = &out
	cmd.Stderr = log
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measured{}, fmt.Errorf("%s: %w", argv[0], err)
	}
	stop := aliveTicker(filepath.Base(argv[0]), start)
	err = cmd.Wait()
	m := measured{Wall: time.Since(start), Stdout: out.Bytes()}
	stop()
	log.Write(out.Bytes())
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			m.MaxRSSKiB = ru.Maxrss // KiB on Linux
			m.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if err != nil {
		return m, fmt.Errorf("%s: %w (log: %s)\n%s", filepath.Base(argv[0]), err, logPath, logTail(logPath))
	}
	return m, nil
}

// runSelf re-executes this binary with a hidden subcommand.
func runSelf(ctx context.Context, logPath string, env []string, args ...string) (measured, error) {
	self, err := os.Executable()
	if err != nil {
		return measured{}, err
	}
	return runMeasured(ctx, logPath, env, append([]string{self}, args...)...)
}

// aliveTicker reports every aliveEvery that a child is still running, until stopped.
func aliveTicker(name string, start time.Time) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(aliveEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				progress("  %s still running (%.0fs)", name, time.Since(start).Seconds())
			}
		}
	}()
	return func() { close(done) }
}

const aliveEvery = 15 * time.Second

func logTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// profileTo writes a CPU profile of this process to path until stop is
// called; "" profiles nothing.
func profileTo(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
