package main

// The osflow half: the mirror in a child process, and the store's snapshot,
// diff and channel switch in process.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/mirror"
)

const (
	benchRepo       = "bench"
	mirrorWorkers   = 16
	copySnapshotID  = "benchcopy0000000"
	switchChannel   = "bench"
	switchCount     = 1000
	switchesPerTick = 250
)

// syncResult is what the osflow-sync child prints on stdout.
type syncResult struct {
	Snapshot        string `json:"snapshot"`
	Changed         bool   `json:"changed"`
	Downloaded      int    `json:"downloaded"`
	DownloadedBytes int64  `json:"downloadedBytes"`
	Reused          int    `json:"reused"`
	// Stages is the wall time of each mirror stage, in order.
	Stages []stageTime `json:"stages"`
}

type stageTime struct {
	Stage   string  `json:"stage"`
	Seconds float64 `json:"seconds"`
}

// runOsflowSyncChild is the osflow-sync subcommand: STORE URL.
func runOsflowSyncChild(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: %s STORE URL", cmdOsflowSync)
	}
	stop, err := profileTo(os.Getenv(envCPUProfile))
	if err != nil {
		return err
	}
	defer stop()
	st, err := repo.Open(args[0])
	if err != nil {
		return err
	}
	m := mirror.New(st, mirrorWorkers, nil)
	var stages []stageTime
	stage, since := "", time.Now()
	res, err := m.Sync(context.Background(), mirror.Source{Repo: benchRepo, URL: args[1]}, func(p mirror.Progress) {
		if p.Stage == stage {
			return
		}
		now := time.Now()
		if stage != "" {
			stages = append(stages, stageTime{stage, now.Sub(since).Seconds()})
		}
		stage, since = p.Stage, now
		fmt.Fprintf(os.Stderr, "%s stage %s: %d files, %d bytes\n", now.Format(time.StampMilli), p.Stage, p.FilesTotal, p.BytesTotal)
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(syncResult{
		Snapshot: res.Snapshot.ID, Changed: res.Changed,
		Downloaded: res.Downloaded, DownloadedBytes: res.DownloadedBytes, Reused: res.Reused, Stages: stages,
	})
}

// osflowSync runs the osflow-sync child of url into the store.
func (b *bench) osflowSync(ctx context.Context, url, name string) (measured, syncResult, error) {
	env, err := b.childProfile(name)
	if err != nil {
		return measured{}, syncResult{}, err
	}
	m, err := runSelf(ctx, filepath.Join(b.run, "osflow-"+name+".log"), env, cmdOsflowSync, b.store(), url)
	if err != nil {
		return m, syncResult{}, err
	}
	var res syncResult
	if err := json.Unmarshal(m.Stdout, &res); err != nil {
		return m, res, fmt.Errorf("osflow-sync child output: %w", err)
	}
	return m, res, nil
}

func stagesString(stages []stageTime) string {
	var parts []string
	for _, st := range stages {
		parts = append(parts, fmt.Sprintf("%s %.2fs", st.Stage, st.Seconds))
	}
	return strings.Join(parts, ", ")
}

func (b *bench) store() string { return filepath.Join(b.run, "store") }

func (b *bench) measureOsflow(ctx context.Context) error {
	n := len(b.base.Pkgs)
	progress("osflow sync of %d packages ...", n)
	m, first, err := b.osflowSync(ctx, b.url1, "sync")
	if err != nil {
		return err
	}
	if !first.Changed || first.Downloaded < n {
		return fmt.Errorf("osflow full sync downloaded %d files (changed=%v), want ≥ %d", first.Downloaded, first.Changed, n)
	}
	b.fig.OsflowSync, b.fig.OsflowDownloaded = newRunFig(m, b.base.Bytes), first.Downloaded
	b.fig.OsflowSyncStages = first.Stages
	progress("osflow sync: %.2fs, %.1f MB/s, peak RSS %.0f MiB, snapshot %s; stages %s",
		m.Wall.Seconds(), b.fig.OsflowSync.MBps, b.fig.OsflowSync.MaxRSSMiB, first.Snapshot, stagesString(first.Stages))

	settle()
	progress("osflow no-op re-sync ...")
	m, noop, err := b.osflowSync(ctx, b.url1, "noop")
	if err != nil {
		return err
	}
	if noop.Changed || noop.Snapshot != first.Snapshot {
		return fmt.Errorf("osflow no-op re-sync made snapshot %s (changed=%v), want %s", noop.Snapshot, noop.Changed, first.Snapshot)
	}
	b.fig.OsflowNoop, b.fig.OsflowNoopDownloaded = newRunFig(m, 0), noop.Downloaded
	progress("osflow no-op re-sync: %.3fs", m.Wall.Seconds())

	st, err := repo.Open(b.store())
	if err != nil {
		return err
	}
	if err := b.measureSnapshot(ctx, st, first.Snapshot); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}

	settle()
	progress("osflow sync of the updated upstream ...")
	m, second, err := b.osflowSync(ctx, b.url2, "update")
	if err != nil {
		return err
	}
	b.fig.OsflowUpdate, b.fig.OsflowUpdateDownloads = newRunFig(m, 0), second.Downloaded
	b.fig.OsflowUpdateStages = second.Stages
	progress("osflow update sync: %.2fs, %d files downloaded; stages %s", m.Wall.Seconds(), second.Downloaded, stagesString(second.Stages))

	return b.measureReleases(ctx, st, first.Snapshot, second.Snapshot)
}

// measureSnapshot times committing the synced tree again under another ID
// against cp -al of the same tree.
func (b *bench) measureSnapshot(ctx context.Context, st *repo.Store, id string) error {
	snap, err := st.Snapshot(benchRepo, id)
	if err != nil {
		return err
	}
	pkgs, err := st.Manifest(benchRepo, id)
	if err != nil {
		return err
	}
	tree := filepath.Join(st.Root(), "snapshots", benchRepo, id)
	files, err := treeFiles(tree, pkgs)
	if err != nil {
		return err
	}
	copySnap := repo.Snapshot{Repo: benchRepo, ID: copySnapshotID, Source: snap.Source, Repomd: snap.Repomd,
		Packages: snap.Packages, Bytes: snap.Bytes}

	settle()
	progress("osflow CommitSnapshot of %d files ...", len(files))
	stop, err := b.profileInProcess("snapshot")
	if err != nil {
		return err
	}
	start := time.Now()
	_, err = st.CommitSnapshot(copySnap, files, pkgs)
	b.fig.SnapshotOsflow = Seconds(time.Since(start))
	stop()
	if err != nil {
		return err
	}
	progress("osflow CommitSnapshot: %.3fs", b.fig.SnapshotOsflow.S())

	settle()
	progress("cp -al of the same tree ...")
	m, err := copyLinks(ctx, filepath.Join(b.run, "cp.log"), tree, filepath.Join(b.run, "cp-al"))
	if err != nil {
		return err
	}
	b.fig.SnapshotCP = Seconds(m.Wall)
	progress("cp -al: %.3fs", m.Wall.Seconds())
	return nil
}

// profileInProcess starts a CPU profile of this process as name.pprof in
// the profile directory, if there is one; stop ends it.
func (b *bench) profileInProcess(name string) (stop func(), err error) {
	path, err := b.profilePath(name)
	if err != nil {
		return nil, err
	}
	return profileTo(path)
}

// childProfile is the environment that makes a child write its CPU
// profile as name.pprof in the profile directory, if there is one.
func (b *bench) childProfile(name string) ([]string, error) {
	path, err := b.profilePath(name)
	if path == "" || err != nil {
		return nil, err
	}
	return []string{envCPUProfile + "=" + path}, nil
}

// profilePath is where the profile called name goes; "" without -cpuprofile.
func (b *bench) profilePath(name string) (string, error) {
	if b.cfg.CPUProfile == "" {
		return "", nil
	}
	if err := os.MkdirAll(b.cfg.CPUProfile, 0o755); err != nil {
		return "", err
	}
	return filepath.Abs(filepath.Join(b.cfg.CPUProfile, name+".pprof"))
}

// treeFiles lists a snapshot tree as files for CommitSnapshot: packages with
// their manifest checksums, the metadata files hashed here.
func treeFiles(tree string, pkgs []repo.Package) ([]repo.File, error) {
	byHref := make(map[string]repo.Package, len(pkgs))
	for _, p := range pkgs {
		byHref[p.Href] = p
	}
	var files []repo.File
	err := filepath.WalkDir(tree, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(tree, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if p, ok := byHref[rel]; ok {
			files = append(files, repo.File{Path: rel, Checksum: p.Checksum, Size: p.Size})
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		files = append(files, repo.File{Path: rel, Checksum: repo.Checksum{Algo: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}, Size: n})
		return err
	})
	return files, err
}

// measureReleases makes a release of each snapshot, times their diff
// against dnf repodiff's, and times channel switches between them.
func (b *bench) measureReleases(ctx context.Context, st *repo.Store, idA, idB string) error {
	now := time.Now()
	relA, _, err := st.CreateRelease(now, map[string]string{benchRepo: idA})
	if err != nil {
		return err
	}
	relB, _, err := st.CreateRelease(now.Add(time.Second), map[string]string{benchRepo: idB})
	if err != nil {
		return err
	}

	settle()
	progress("osflow DiffReleases %s %s ...", relA.ID, relB.ID)
	stop, err := b.profileInProcess("diff")
	if err != nil {
		return err
	}
	start := time.Now()
	diff, err := st.DiffReleases(relA.ID, relB.ID)
	b.fig.DiffOsflow = Seconds(time.Since(start))
	stop()
	if err != nil {
		return err
	}
	d := diff.Repos[benchRepo]
	b.fig.DiffUpgradedOsflow = len(d.Upgraded)
	progress("osflow DiffReleases: %.3fs; %d upgraded, %d added, %d removed, %d downgraded, %d rebuilt",
		b.fig.DiffOsflow.S(), len(d.Upgraded), len(d.Added), len(d.Removed), len(d.Downgraded), len(d.Rebuilt))
	if len(d.Upgraded) != b.updated.Updated {
		return fmt.Errorf("osflow DiffReleases found %d upgraded, want %d", len(d.Upgraded), b.updated.Updated)
	}

	settle()
	progress("osflow Switch x%d ...", switchCount)
	stop, err = b.profileInProcess("switch")
	if err != nil {
		return err
	}
	defer stop()
	lat := make([]time.Duration, switchCount)
	for i := range lat {
		to := relA.ID
		if i%2 == 1 {
			to = relB.ID
		}
		start := time.Now()
		if _, err := st.Switch(ctx, repo.SwitchRequest{Channel: switchChannel, Release: to, Actor: "bench", Reason: "latency"}); err != nil {
			return err
		}
		lat[i] = time.Since(start)
		if (i+1)%switchesPerTick == 0 {
			progress("osflow Switch: %d/%d", i+1, switchCount)
		}
	}
	slices.Sort(lat)
	b.fig.Switches = switchCount
	b.fig.SwitchMedian = Seconds(lat[len(lat)/2])
	b.fig.SwitchP99 = Seconds(lat[len(lat)*99/100])
	progress("osflow Switch: median %.3f ms, p99 %.3f ms", 1000*b.fig.SwitchMedian.S(), 1000*b.fig.SwitchP99.S())
	return nil
}
