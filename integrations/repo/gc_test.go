package repo

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gcFixture is a store with one repo's history:
//
//	snapshot  release  referenced by
//	a         rA       testing's log only (a rollback target)
//	b         rB       testing.prev
//	c         rC       nothing: garbage
//	d         -        nothing: garbage, shares a file with b
//	e         rE       testing (current)
//	f         -        newest, kept by KeepSnapshots
type gcFixture struct {
	s     *Store
	snaps map[string]Snapshot
	rels  map[string]string
	now   time.Time
}

func newGCFixture(t *testing.T) gcFixture {
	ctx := context.Background()
	f := gcFixture{s: newStore(t), snaps: map[string]Snapshot{}, rels: map[string]string{}}
	for i, tag := range []string{"a", "b", "c", "d", "e", "f"} {
		day := t0.Add(time.Duration(i) * 24 * time.Hour)
		files := map[string]string{
			"repodata/repomd.xml":      "repomd " + tag,
			"Packages/" + tag + ".rpm": "rpm only in " + tag,
			"Packages/shared-b-d.rpm":  map[bool]string{true: "shared by b and d", false: "rpm " + tag}[tag == "b" || tag == "d"],
		}
		f.snaps[tag] = commit(t, f.s, "base", day, files)
		if tag != "d" && tag != "f" {
			f.rels[tag] = release(t, f.s, day, map[string]string{"base": f.snaps[tag].ID}).ID
		}
	}
	for _, tag := range []string{"a", "b", "e"} {
		_, err := f.s.Switch(ctx, SwitchRequest{Channel: "testing", Release: f.rels[tag], Actor: "ci", Reason: "sync"})
		require.NoError(t, err)
	}
	// Pool objects and records carry today's mtimes; plan from a "now" far
	// enough ahead that all of them are older than MinAge.
	f.now = time.Now().Add(30 * 24 * time.Hour)
	return f
}

func (f gcFixture) snapDir(tag string) string {
	return filepath.Join(f.s.Root(), "snapshots", "base", f.snaps[tag].ID)
}

func poolItem(content string) string {
	h := sha(content)
	return "pool/sha256/" + h[:2] + "/" + h
}

func deletePaths(plan GCPlan) []string {
	var paths []string
	for _, item := range plan.Delete {
		paths = append(paths, item.Path)
	}
	return paths
}

func TestGCKeepsWhatChannelsNeed(t *testing.T) {
	f := newGCFixture(t)
	// A stale staging entry goes; a fresh one may belong to a running sync.
	stale := filepath.Join(f.s.TempDir(), "dl-stale")
	require.NoError(t, os.WriteFile(stale, []byte("half a download"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(f.s.TempDir(), "dl-fresh"), []byte("x"), 0o644))
	old := time.Now().Add(-2 * time.Hour)
	require.NoError(t, os.Chtimes(stale, old, old))

	plan, err := f.s.PlanGC(GCPolicy{KeepSnapshots: 1, MinAge: 24 * time.Hour}, time.Now())
	require.NoError(t, err)
	// Judged from today, the pool objects are younger than MinAge.
	require.ElementsMatch(t, []string{
		"releases/" + f.rels["c"],
		"snapshots/base/" + f.snaps["c"].ID,
		"snapshots/base/" + f.snaps["d"].ID,
		"tmp/dl-stale",
	}, deletePaths(plan))

	plan, err = f.s.PlanGC(GCPolicy{KeepSnapshots: 1, MinAge: 24 * time.Hour}, f.now)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{
		"releases/" + f.rels["c"],
		"snapshots/base/" + f.snaps["c"].ID,
		"snapshots/base/" + f.snaps["d"].ID,
		poolItem("repomd c"), poolItem("rpm only in c"), poolItem("rpm c"),
		poolItem("repomd d"), poolItem("rpm only in d"),
		"tmp/dl-fresh", "tmp/dl-stale",
	}, deletePaths(plan))
	keep := map[string]string{}
	for _, item := range plan.Keep {
		keep[item.Path] = item.Reason
	}
	require.Contains(t, keep["releases/"+f.rels["a"]], "log")
	require.Contains(t, keep["releases/"+f.rels["b"]], "previous release of channel testing")
	require.Contains(t, keep["releases/"+f.rels["e"]], "served by channel testing")
	require.Contains(t, keep["snapshots/base/"+f.snaps["a"].ID], "in release "+f.rels["a"])
	require.Contains(t, keep["snapshots/base/"+f.snaps["f"].ID], "newest")

	var want int64
	for _, item := range plan.Delete {
		want += item.Bytes
	}
	require.Greater(t, want, int64(len("rpm only in c")+len("rpm only in d")))
	freed, err := f.s.ExecuteGC(context.Background(), plan)
	require.NoError(t, err)
	// Execution judges staging entries by the wall clock again: the fresh
	// one (1 byte) may belong to a running sync and stays.
	require.Equal(t, want-1, freed)
	require.Equal(t, []string{filepath.Join("tmp", "dl-fresh")}, tmpEntries(t, f.s))

	for _, tag := range []string{"c", "d"} {
		require.NoDirExists(t, f.snapDir(tag), tag)
		require.False(t, exists(f.snapDir(tag)+".manifest"), tag)
		require.False(t, exists(f.snapDir(tag)+".json"), tag)
	}
	require.False(t, exists(filepath.Join(f.s.Root(), "releases", f.rels["c"])))
	require.False(t, exists(filepath.Join(f.s.Root(), "releases", f.rels["c"]+".json")))
	for _, tag := range []string{"a", "b", "e", "f"} {
		_, err := f.s.Manifest("base", f.snaps[tag].ID)
		require.NoError(t, err, tag)
	}
	for _, tag := range []string{"a", "b", "e"} {
		_, err := os.Stat(filepath.Join(f.s.Root(), "releases", f.rels[tag], "base", "repodata", "repomd.xml"))
		require.NoError(t, err, tag)
	}
	require.True(t, f.s.PoolHas(Checksum{Algo: "sha256", Hex: sha("shared by b and d")}, -1),
		"an object a kept snapshot still links survives")
	_, err = os.Stat(filepath.Join(f.snapDir("b"), "Packages", "shared-b-d.rpm"))
	require.NoError(t, err)

	// Everything left is needed: a second pass finds nothing to do.
	plan, err = f.s.PlanGC(GCPolicy{KeepSnapshots: 1, MinAge: 24 * time.Hour}, time.Now())
	require.NoError(t, err)
	require.Empty(t, plan.Delete)
}

func TestExecuteGCRechecksThePlan(t *testing.T) {
	f := newGCFixture(t)
	plan, err := f.s.PlanGC(GCPolicy{KeepSnapshots: 1, MinAge: time.Hour}, f.now)
	require.NoError(t, err)
	require.Contains(t, deletePaths(plan), "releases/"+f.rels["c"])

	// Between plan and execute, production starts serving release c.
	_, err = f.s.Switch(context.Background(), SwitchRequest{Channel: "production", Release: f.rels["c"], Actor: "ops", Reason: "hotfix"})
	require.NoError(t, err)
	_, err = f.s.ExecuteGC(context.Background(), plan)
	require.NoError(t, err)

	_, err = os.Stat(filepath.Join(f.s.Root(), "channels", "production", "base", "Packages", "c.rpm"))
	require.NoError(t, err, "a release switched to after planning must survive with its snapshot and pool objects")
	require.True(t, f.s.PoolHas(Checksum{Algo: "sha256", Hex: sha("rpm only in c")}, -1))
	require.False(t, exists(f.snapDir("d")), "the rest of the plan still runs")
}

func TestExecuteGCRefusesForeignPaths(t *testing.T) {
	f := newGCFixture(t)
	for _, p := range []string{"channels/testing", "releases/../channels", "snapshots/base", "pool/sha256/xx/abc", "tmp/..", "/etc", "overlays/base"} {
		_, err := f.s.ExecuteGC(context.Background(), GCPlan{Delete: []GCItem{
			{Path: "snapshots/base/" + f.snaps["d"].ID}, {Path: p},
		}})
		require.ErrorIs(t, err, ErrInvalid, p)
	}
	require.True(t, exists(f.snapDir("d")), "a plan with one bad item deletes nothing")
	_, err := f.s.PlanGC(GCPolicy{KeepSnapshots: -1}, f.now)
	require.ErrorIs(t, err, ErrInvalid)
}

func TestGCDeletesIncompleteCommits(t *testing.T) {
	s := newStore(t)
	// A crash after the record was written, before the directory rename.
	dir := filepath.Join(s.Root(), "snapshots", "base")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	write := func(name string, age time.Duration) {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("{}"), 0o644))
		mtime := time.Now().Add(-age)
		require.NoError(t, os.Chtimes(p, mtime, mtime))
	}
	write("0123456789abcdef.json", 2*time.Hour)
	write("0123456789abcdef.manifest", 2*time.Hour)
	// A commit in progress has just written its record: even MinAge 0
	// leaves it alone.
	write("fedcba9876543210.json", 0)

	plan, err := s.PlanGC(GCPolicy{}, time.Now())
	require.NoError(t, err)
	require.Equal(t, []string{"snapshots/base/0123456789abcdef.json", "snapshots/base/0123456789abcdef.manifest"}, deletePaths(plan))
	_, err = s.ExecuteGC(context.Background(), plan)
	require.NoError(t, err)
	require.NoFileExists(t, filepath.Join(dir, "0123456789abcdef.json"))
	require.NoFileExists(t, filepath.Join(dir, "0123456789abcdef.manifest"))
	require.FileExists(t, filepath.Join(dir, "fedcba9876543210.json"))
}
