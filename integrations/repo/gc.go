package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// GCPolicy says what garbage collection keeps beyond what channels need.
type GCPolicy struct {
	// KeepSnapshots is how many of each repo's newest snapshots are kept.
	KeepSnapshots int
	// MinAge protects anything younger: a release a workflow is about to
	// switch to, a snapshot it is about to release, a pool object a sync has
	// just downloaded and not yet committed.
	MinAge time.Duration
}

// GCItem is one thing garbage collection keeps or deletes, and why. Path
// is relative to the store root, with slashes.
type GCItem struct {
	Path   string
	Reason string
	Bytes  int64
}

// GCPlan is the outcome of PlanGC: a dry run to show, then to execute.
// Keep lists snapshots and releases only; kept pool objects are too many.
type GCPlan struct {
	Delete []GCItem
	Keep   []GCItem
}

// staleTmpAge is how long a staging entry may sit in tmp/: far longer than
// any single download or commit takes.
const staleTmpAge = time.Hour

// pinnedReleases maps each release a channel needs to the reason: what a
// channel or its .prev points at, and every release in a channel's log,
// since those are the rollback targets.
func (s *Store) pinnedReleases() (map[string]string, error) {
	names, err := s.channelNames()
	if err != nil {
		return nil, err
	}
	pinned := make(map[string]string)
	pin := func(id, reason string) {
		if id != "" && pinned[id] == "" {
			pinned[id] = reason
		}
	}
	for _, ch := range names {
		cur, err := s.linkedRelease(s.channelPath(ch))
		if err != nil {
			return nil, err
		}
		pin(cur, "served by channel "+ch)
	}
	for _, ch := range names {
		prev, err := s.linkedRelease(s.channelPath(ch) + ".prev")
		if err != nil {
			return nil, err
		}
		pin(prev, "previous release of channel "+ch)
	}
	for _, ch := range names {
		log, err := s.History(ch)
		if err != nil {
			return nil, err
		}
		for _, id := range servedReleases(log) {
			pin(id, "rollback target in channel "+ch+"'s log")
		}
	}
	return pinned, nil
}

// PlanGC decides, without changing anything, what garbage collection would
// delete now and why. Nothing a channel, a channel's .prev or a channel's
// log refers to is ever deleted, directly or through its release.
func (s *Store) PlanGC(policy GCPolicy, now time.Time) (GCPlan, error) {
	if policy.KeepSnapshots < 0 || policy.MinAge < 0 {
		return GCPlan{}, fmt.Errorf("plan gc: negative policy %+v: %w", policy, ErrInvalid)
	}
	p := gcPlanner{s: s, now: now, policy: policy, snapKeep: map[string]string{}}
	steps := []func() error{p.releases, p.snapshots, p.deadReleases, p.pool, p.tmp}
	for _, step := range steps {
		if err := step(); err != nil {
			return GCPlan{}, fmt.Errorf("plan gc: %w", err)
		}
	}
	byPath := func(a, b GCItem) int { return strings.Compare(a.Path, b.Path) }
	slices.SortFunc(p.plan.Delete, byPath)
	slices.SortFunc(p.plan.Keep, byPath)
	return p.plan, nil
}

// gcPlanner carries PlanGC's state between its steps.
type gcPlanner struct {
	s      *Store
	now    time.Time
	policy GCPolicy
	plan   GCPlan
	// candidates are releases no channel needs that are old enough to go
	// if their snapshots go.
	candidates []Release
	// snapKeep maps "repo/id" to why a release keeps that snapshot.
	snapKeep map[string]string
	// dying maps "repo/id" of each snapshot being deleted to true.
	dying map[string]bool
}

func (p *gcPlanner) old(t time.Time) bool { return p.now.Sub(t) >= p.policy.MinAge }

func (p *gcPlanner) keep(path, reason string) {
	p.plan.Keep = append(p.plan.Keep, GCItem{Path: path, Reason: reason})
}

func (p *gcPlanner) delete(path, reason string, bytes int64) {
	p.plan.Delete = append(p.plan.Delete, GCItem{Path: path, Reason: reason, Bytes: bytes})
}

// releases sorts releases into kept ones, whose snapshots are then
// protected, and candidates.
func (p *gcPlanner) releases() error {
	pinned, err := p.s.pinnedReleases()
	if err != nil {
		return err
	}
	rels, err := p.s.Releases()
	if err != nil {
		return err
	}
	for _, rel := range rels {
		reason := pinned[rel.ID]
		if reason == "" && !p.old(rel.CreatedAt) {
			reason = "younger than MinAge"
		}
		if reason == "" {
			p.candidates = append(p.candidates, rel)
			continue
		}
		p.keep("releases/"+rel.ID, reason)
		for repo, snap := range rel.Repos {
			if p.snapKeep[repo+"/"+snap] == "" {
				p.snapKeep[repo+"/"+snap] = "in release " + rel.ID + " (" + reason + ")"
			}
		}
	}
	return p.orphanRecords("releases")
}

// orphanRecords plans the deletion of records in dir (relative to the
// root, with slashes) whose directory never appeared: a commit that
// crashed between writing them and its final rename.
func (p *gcPlanner) orphanRecords(dir string) error {
	entries, err := os.ReadDir(p.s.path(filepath.FromSlash(dir)))
	if err != nil {
		return err
	}
	for _, e := range entries {
		id, ok := recordID(e.Name())
		if !ok || e.IsDir() {
			continue
		}
		if _, err := os.Lstat(p.s.path(filepath.FromSlash(dir), id)); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		info, err := e.Info()
		if err != nil || !p.old(info.ModTime()) || p.now.Sub(info.ModTime()) < staleTmpAge {
			continue
		}
		p.delete(dir+"/"+e.Name(), "record of a commit that never completed", info.Size())
	}
	return nil
}

// recordID is the ID whose record the file name is.
func recordID(name string) (string, bool) {
	for _, ext := range []string{".json", ".manifest"} {
		if id, ok := strings.CutSuffix(name, ext); ok && checkSnapshotID(id) == nil {
			return id, true
		}
	}
	return "", false
}

// recordBytes is the size of the files kept beside a snapshot or release
// directory, which are not in the pool.
func recordBytes(dir string) int64 {
	var n int64
	for _, ext := range []string{".json", ".manifest"} {
		if fi, err := os.Lstat(dir + ext); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// snapshots keeps each repo's newest, young and released snapshots and
// plans the deletion of the rest.
func (p *gcPlanner) snapshots() error {
	p.dying = map[string]bool{}
	repos, err := os.ReadDir(p.s.path("snapshots"))
	if err != nil {
		return err
	}
	for _, r := range repos {
		if !r.IsDir() || CheckRepoName(r.Name()) != nil {
			continue
		}
		snaps, err := p.s.Snapshots(r.Name())
		if err != nil {
			return err
		}
		for i, snap := range snaps {
			key := snap.Repo + "/" + snap.ID
			item := "snapshots/" + key
			switch {
			case p.snapKeep[key] != "":
				p.keep(item, p.snapKeep[key])
			case i < p.policy.KeepSnapshots:
				p.keep(item, fmt.Sprintf("one of the %d newest of repo %s", p.policy.KeepSnapshots, snap.Repo))
			case !p.old(snap.CreatedAt):
				p.keep(item, "younger than MinAge")
			default:
				p.dying[key] = true
				p.delete(item, fmt.Sprintf("older than MinAge, beyond the %d newest of repo %s, in no kept release",
					p.policy.KeepSnapshots, snap.Repo), recordBytes(p.s.path("snapshots", snap.Repo, snap.ID)))
			}
		}
		if err := p.orphanRecords("snapshots/" + r.Name()); err != nil {
			return err
		}
	}
	return nil
}

// deadReleases deletes a candidate release once any of its snapshots goes,
// since it could no longer be served; otherwise keeping it costs nothing.
func (p *gcPlanner) deadReleases() error {
	for _, rel := range p.candidates {
		var gone []string
		for _, repo := range slices.Sorted(maps.Keys(rel.Repos)) {
			key := repo + "/" + rel.Repos[repo]
			if _, err := os.Stat(p.s.snapshotDir(repo, rel.Repos[repo])); p.dying[key] || err != nil {
				gone = append(gone, key)
			}
		}
		item := "releases/" + rel.ID
		if len(gone) == 0 {
			p.keep(item, "its snapshots are kept")
			continue
		}
		p.delete(item, "older than MinAge, served by no channel, and snapshot "+strings.Join(gone, ", ")+" is deleted",
			recordBytes(p.s.releaseDir(rel.ID)))
	}
	return nil
}

// pool plans the deletion of objects that no surviving snapshot links: a
// pool object's link count is one plus the snapshot trees holding it.
func (p *gcPlanner) pool() error {
	dyingLinks := map[uint64]uint64{}
	for key := range p.dying {
		err := filepath.WalkDir(p.s.path("snapshots", key), func(_ string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			if st, ok := statT(d); ok {
				dyingLinks[st.Ino]++
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	root := p.s.path("pool")
	return filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		st, ok := statT(d)
		if !ok {
			return nil
		}
		left := uint64(st.Nlink) - min(dyingLinks[st.Ino], uint64(st.Nlink))
		if left > 1 || !p.old(time.Unix(st.Mtim.Unix())) {
			return nil
		}
		reason := "linked by no snapshot"
		if st.Nlink > 1 {
			reason = "linked only by deleted snapshots"
		}
		rel, err := filepath.Rel(p.s.root, full)
		if err != nil {
			return err
		}
		p.delete(filepath.ToSlash(rel), reason, st.Size)
		return nil
	})
}

func statT(d fs.DirEntry) (*syscall.Stat_t, bool) {
	info, err := d.Info()
	if err != nil {
		return nil, false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	return st, ok
}

// tmp sweeps what crashed or abandoned stagings left in tmp/.
func (p *gcPlanner) tmp() error {
	entries, err := os.ReadDir(p.s.TempDir())
	if err != nil {
		return err
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || p.now.Sub(info.ModTime()) < staleTmpAge {
			continue
		}
		p.delete("tmp/"+e.Name(), "staging entry older than "+staleTmpAge.String(), ownBytes(filepath.Join(p.s.TempDir(), e.Name())))
	}
	return nil
}

// ownBytes is what deleting the tree at p frees: the files nothing else links.
func ownBytes(p string) int64 {
	var n int64
	_ = filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if st, ok := statT(d); ok && st.Nlink == 1 {
				n += st.Size
			}
		}
		return nil
	})
	return n
}

// Kinds of GC items, in the order ExecuteGC deletes them: releases before
// their snapshots and snapshots before the pool objects they link, so
// nothing visible ever dangles and link counts have dropped by the time
// the pool is checked.
const (
	gcRelease = iota
	gcSnapshot
	gcRecord
	gcPool
	gcTmp
	gcKinds
)

// gcKind classifies a plan item's path, refusing any path PlanGC would not
// produce: a plan may have been stored and edited between plan and execute.
func gcKind(item string) (int, error) {
	parts := strings.Split(item, "/")
	kind := -1
	switch n := len(parts); {
	case parts[0] == "releases" && n == 2 && checkReleaseID(parts[1]) == nil:
		kind = gcRelease
	case parts[0] == "snapshots" && n == 3 && CheckRepoName(parts[1]) == nil && checkSnapshotID(parts[2]) == nil:
		kind = gcSnapshot
	case (parts[0] == "releases" && n == 2 || parts[0] == "snapshots" && n == 3 && CheckRepoName(parts[1]) == nil) &&
		isRecord(parts[n-1]):
		kind = gcRecord
	case parts[0] == "pool" && n == 4:
		c := Checksum{Algo: parts[1], Hex: parts[3]}
		if norm, err := normChecksum(c); err == nil && norm == c && parts[2] == c.Hex[:2] {
			kind = gcPool
		}
	case parts[0] == "tmp" && n == 2 && parts[1] != "" && parts[1] != "." && parts[1] != "..":
		kind = gcTmp
	}
	if kind < 0 || path.Clean(item) != item {
		return 0, fmt.Errorf("gc item %q is not a store path gc deletes: %w", item, ErrInvalid)
	}
	return kind, nil
}

func isRecord(name string) bool {
	_, ok := recordID(name)
	return ok
}

// ExecuteGC deletes what plan lists and returns the bytes freed. Under the
// store lock it re-checks every item against the store as it is now, and
// skips one that became needed since the plan: a release a channel was
// switched to, a snapshot a new release names, a pool object a new
// snapshot links.
func (s *Store) ExecuteGC(ctx context.Context, plan GCPlan) (freedBytes int64, err error) {
	kinds := make([]int, len(plan.Delete))
	for i, item := range plan.Delete {
		if kinds[i], err = gcKind(item.Path); err != nil {
			return 0, fmt.Errorf("execute gc: %w", err)
		}
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return 0, fmt.Errorf("execute gc: %w", err)
	}
	defer unlock()
	pinned, err := s.pinnedReleases()
	if err != nil {
		return 0, fmt.Errorf("execute gc: %w", err)
	}
	needed, err := s.snapshotsOfSurvivors(plan, pinned)
	if err != nil {
		return 0, fmt.Errorf("execute gc: %w", err)
	}
	for kind := range gcKinds {
		for i, item := range plan.Delete {
			if kinds[i] != kind {
				continue
			}
			if err := ctx.Err(); err != nil {
				return freedBytes, fmt.Errorf("execute gc: %w", err)
			}
			n, err := s.gcDelete(kind, item.Path, pinned, needed)
			freedBytes += n
			if err != nil {
				return freedBytes, fmt.Errorf("execute gc: %s: %w", item.Path, err)
			}
		}
	}
	return freedBytes, nil
}

// snapshotsOfSurvivors lists ("repo/id") the snapshots named by releases
// that this plan does not delete or that a channel pins now.
func (s *Store) snapshotsOfSurvivors(plan GCPlan, pinned map[string]string) (map[string]bool, error) {
	doomed := map[string]bool{}
	for _, item := range plan.Delete {
		if id, ok := strings.CutPrefix(item.Path, "releases/"); ok && pinned[id] == "" {
			doomed[id] = true
		}
	}
	rels, err := s.Releases()
	if err != nil {
		return nil, err
	}
	needed := map[string]bool{}
	for _, rel := range rels {
		if !doomed[rel.ID] {
			for repo, snap := range rel.Repos {
				needed[repo+"/"+snap] = true
			}
		}
	}
	return needed, nil
}

// gcDelete removes one plan item unless it is needed now, returning the
// bytes freed. Staging entries and orphan records are judged by the wall
// clock again: the plan's "now" may have been another.
func (s *Store) gcDelete(kind int, item string, pinned map[string]string, needed map[string]bool) (int64, error) {
	full := s.path(filepath.FromSlash(item))
	switch kind {
	case gcRelease, gcSnapshot:
		id, isRelease := strings.CutPrefix(item, "releases/")
		if isRelease && pinned[id] != "" || !isRelease && needed[strings.TrimPrefix(item, "snapshots/")] {
			return 0, nil
		}
		n := recordBytes(full)
		// The directory goes first: it is the commit marker.
		if err := s.removeTree(full); err != nil {
			return 0, err
		}
		for _, ext := range []string{".manifest", ".json"} {
			if err := os.Remove(full + ext); err != nil && !errors.Is(err, os.ErrNotExist) {
				return 0, err
			}
		}
		return n, nil
	case gcRecord:
		id, _ := recordID(path.Base(item))
		fi, err := os.Lstat(full)
		if err != nil || time.Since(fi.ModTime()) < staleTmpAge || exists(filepath.Join(filepath.Dir(full), id)) {
			return 0, nil // gone, or a commit in progress, or committed after all
		}
		return fi.Size(), os.Remove(full)
	case gcPool:
		fi, err := os.Lstat(full)
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Nlink != 1 {
			return 0, nil
		}
		return fi.Size(), os.Remove(full)
	default:
		fi, err := os.Lstat(full)
		if err != nil || time.Since(fi.ModTime()) < staleTmpAge {
			return 0, nil
		}
		n := ownBytes(full)
		return n, os.RemoveAll(full)
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
