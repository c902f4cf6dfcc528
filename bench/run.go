package main

// The benchmark's sequence: generate, serve, then measure each operation
// once, osflow and its peer side by side.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// bench is one run's shared state.
type bench struct {
	cfg           config
	run           string // per-run scratch: stores, dnf trees, logs
	base, updated *upstream
	url1, url2    string
	fig           *figures
}

func run(ctx context.Context, cfg config) error {
	work := cfg.Workdir
	if work == "" {
		tmp, err := os.MkdirTemp("", "osflow-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		work = tmp
	}
	work, err := filepath.Abs(work)
	if err != nil {
		return err
	}
	if cfg.Scale {
		return runScale(ctx, cfg, work)
	}
	b := &bench{cfg: cfg, run: filepath.Join(work, "run"), fig: &figures{N: cfg.N, LoadAvg: [2]float64{loadAvg()}}}
	// Files deleted shortly before a measurement tax it: ext4 without a
	// journal, allocating an inode, scans past every free inode freed in
	// the last minute (six while its inode table block is unwritten). So
	// the previous run and the plain fetch's copy are deleted after the
	// measurements, not before or between them; a run started within
	// minutes of another still pays for the other's deletions.
	old := filepath.Join(work, "run.old")
	if err := os.RemoveAll(old); err != nil {
		return err
	}
	if err := os.Rename(b.run, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	defer removeLater(old)
	defer removeLater(filepath.Join(b.run, "fetch"))
	if err := os.MkdirAll(b.run, 0o755); err != nil {
		return err
	}
	if b.base, b.updated, err = generateUpstreams(filepath.Join(work, "upstream"), benchPayloads(cfg.N)); err != nil {
		return fmt.Errorf("generate upstream: %w", err)
	}
	b.fig.UpstreamBytes, b.fig.UpstreamUpgraded = b.base.Bytes, b.updated.Updated
	progress("upstream: %d packages, %.1f MB; updated copy has %d upgraded", cfg.N, mb(b.base.Bytes), b.updated.Updated)

	srvURL, stop, err := serveDir(filepath.Join(work, "upstream"))
	if err != nil {
		return err
	}
	defer stop(context.Background())
	b.url1, b.url2 = srvURL+"/v1/", srvURL+"/v2/"

	for _, step := range b.steps() {
		if cfg.SkipDNF && strings.HasPrefix(step.name, "dnf ") || !cfg.runs(step.name) {
			continue
		}
		settle()
		if err := step.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
	}

	b.fig.LoadAvg[1] = loadAvg()
	b.fig.report(os.Stdout)
	if cfg.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(b.fig)
	}
	return nil
}

type step struct {
	name string
	fn   func(context.Context) error
}

// steps are the measurements, in order.
func (b *bench) steps() []step {
	return []step{
		{"fetch", b.measureFetch},
		{"dnf reposync", b.measureReposync},
		{"osflow", b.measureOsflow},
		{"temporal", b.measureTemporal},
		{"bypass", b.measureBypass},
		{"dnf repodiff", b.measureRepodiff},
		{"parse", b.measureParse},
	}
}

func stepNames() []string {
	var names []string
	for _, s := range (&bench{}).steps() {
		names = append(names, strings.ReplaceAll(s.name, " ", "-"))
	}
	return names
}

// runs says whether -only selects the step.
func (c config) runs(name string) bool {
	if c.Only == "" {
		return true
	}
	for _, n := range strings.Split(c.Only, ",") {
		if strings.TrimSpace(n) == strings.ReplaceAll(name, " ", "-") {
			return true
		}
	}
	return false
}

// settle flushes dirty pages left by the previous step, so that its
// writeback does not land in the next step's time.
func settle() { syscall.Sync() }

func (b *bench) measureFetch(ctx context.Context) error {
	progress("plain %d-way fetch of %d packages ...", fetchWorkers, len(b.base.Pkgs))
	list := filepath.Join(b.base.Dir, "..", "v1.list")
	env, err := b.childProfile("fetch")
	if err != nil {
		return err
	}
	m, err := runSelf(ctx, filepath.Join(b.run, "fetch.log"), env, cmdFetch, list, b.url1, filepath.Join(b.run, "fetch"))
	if err != nil {
		return err
	}
	var res fetchResult
	if err := json.Unmarshal(m.Stdout, &res); err != nil {
		return fmt.Errorf("fetch child output: %w", err)
	}
	b.fig.Fetch = newRunFig(m, res.Bytes)
	progress("plain fetch: %d files in %.2fs, %.0f MB/s", res.Files, m.Wall.Seconds(), b.fig.Fetch.MBps)
	return nil
}

// removeLater deletes what the run no longer needs once it has measured everything.
func removeLater(dir string) {
	if _, err := os.Stat(dir); err != nil {
		return
	}
	progress("removing %s ...", dir)
	if err := os.RemoveAll(dir); err != nil {
		progress("remove %s: %v", dir, err)
	}
	settle() // shortens the time the freed inodes tax the next run
}

func (b *bench) measureReposync(ctx context.Context) error {
	env, err := newDNFEnv(filepath.Join(b.run, "dnf"), b.cfg.DNFParallel)
	if err != nil {
		return err
	}
	dest, cache := filepath.Join(b.run, "dnf", "mirror"), filepath.Join(b.run, "dnf", "cache-sync")
	progress("dnf reposync --download-metadata of %d packages ...", len(b.base.Pkgs))
	m, err := env.reposync(ctx, b.url1, dest, cache)
	if err != nil {
		return err
	}
	got, err := countFiles(filepath.Join(dest, "bench", "Packages"))
	if err != nil {
		return err
	}
	if got != len(b.base.Pkgs) {
		return fmt.Errorf("dnf reposync fetched %d packages, want %d", got, len(b.base.Pkgs))
	}
	b.fig.DNFSync = newRunFig(m, b.base.Bytes)
	progress("dnf reposync: %.2fs, %.1f MB/s, peak RSS %.0f MiB", m.Wall.Seconds(), b.fig.DNFSync.MBps, b.fig.DNFSync.MaxRSSMiB)

	for _, rerun := range []struct {
		what, url string
		fig       *runFig
	}{
		{"no-op re-run", b.url1, &b.fig.DNFNoop},
		{"of the updated upstream", b.url2, &b.fig.DNFUpdate},
	} {
		settle()
		progress("dnf reposync %s ...", rerun.what)
		if m, err = env.reposync(ctx, rerun.url, dest, cache); err != nil {
			return err
		}
		*rerun.fig = newRunFig(m, 0)
		progress("dnf reposync %s: %.2fs", rerun.what, m.Wall.Seconds())
	}
	return nil
}

func (b *bench) measureRepodiff(ctx context.Context) error {
	env, err := newDNFEnv(filepath.Join(b.run, "dnf"), b.cfg.DNFParallel)
	if err != nil {
		return err
	}
	progress("dnf repodiff (cold cache) ...")
	m, upgraded, err := env.repodiff(ctx, b.url1, b.url2, filepath.Join(b.run, "dnf", "cache-diff"))
	if err != nil {
		return err
	}
	b.fig.DiffDNF = Seconds(m.Wall)
	b.fig.DiffUpgradedDNF = upgraded
	progress("dnf repodiff: %.2fs, %d upgraded", m.Wall.Seconds(), upgraded)
	return nil
}

func countFiles(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	return n, err
}

// Seconds is a duration that marshals as seconds.
type Seconds time.Duration

func (s Seconds) S() float64 { return time.Duration(s).Seconds() }

func (s Seconds) MarshalJSON() ([]byte, error) { return json.Marshal(s.S()) }

func mb(n int64) float64 { return float64(n) / 1e6 }
