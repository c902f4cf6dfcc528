package repo

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// releaseHash is the content part of a release ID: the same {repo →
// snapshot} set, with the same repos stale, always hashes the same,
// whenever it is recorded. Stale repos count (by name only) so that a
// release that carries a repo over is a release of its own, whose record
// says so; without any the hash is what it always was.
func releaseHash(repos map[string]string, stale map[string]StaleRepo) string {
	lines := make([]string, 0, len(repos)+len(stale))
	for repo, snap := range repos {
		lines = append(lines, repo+"="+snap+"\n")
	}
	for repo := range stale {
		lines = append(lines, "stale:"+repo+"\n")
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "")))
	return hex.EncodeToString(sum[:])[:10]
}

func (s *Store) releaseDir(id string) string { return s.path("releases", id) }

// CreateRelease records an immutable release of the given snapshots. A
// release with the same content already present is returned with created=false.
func (s *Store) CreateRelease(createdAt time.Time, repos map[string]string) (rel Release, created bool, err error) {
	return s.CreateReleaseStale(createdAt, repos, nil)
}

// CreateReleaseStale is CreateRelease for a release in which the repos in
// stale serve an earlier snapshot because their sync failed; each must be
// one of repos.
func (s *Store) CreateReleaseStale(createdAt time.Time, repos map[string]string, stale map[string]StaleRepo) (rel Release, created bool, err error) {
	for name := range stale {
		if _, ok := repos[name]; !ok {
			return Release{}, false, fmt.Errorf("create release: stale repo %s has no snapshot: %w", name, ErrInvalid)
		}
	}
	if len(repos) == 0 {
		return Release{}, false, fmt.Errorf("create release: no repos: %w", ErrInvalid)
	}
	// No caller context to honour: the lock is held only for short
	// metadata operations, so waiting for it is bounded.
	unlock, err := s.lock(context.Background())
	if err != nil {
		return Release{}, false, fmt.Errorf("create release: %w", err)
	}
	defer unlock()
	return s.createReleaseLocked(createdAt, repos, stale)
}

// createReleaseLocked is CreateRelease for a caller holding the lock.
func (s *Store) createReleaseLocked(createdAt time.Time, repos map[string]string, stale map[string]StaleRepo) (rel Release, created bool, err error) {
	// Checked under the lock, so a GC cannot delete a snapshot between
	// this check and the release that names it.
	for repo, snap := range repos {
		if _, err := s.Snapshot(repo, snap); err != nil {
			return Release{}, false, fmt.Errorf("create release: %w", err)
		}
	}

	hash := releaseHash(repos, stale)
	if existing, err := s.releaseByHash(hash); err != nil || existing.ID != "" {
		return existing, false, err
	}
	createdAt = createdAt.UTC()
	rel = Release{
		ID:        createdAt.Format("20060102") + "-" + hash,
		CreatedAt: createdAt,
		Repos:     maps.Clone(repos),
	}
	if len(stale) > 0 {
		rel.Stale = maps.Clone(stale)
	}
	// Recorded before the release is: every committed release has it.
	if _, err := s.recordShadows(rel.ID, rel.Repos); err != nil {
		return Release{}, false, fmt.Errorf("create release %s: %w", rel.ID, err)
	}
	if err := s.commitRelease(rel); err != nil {
		return Release{}, false, err
	}
	return rel, true, nil
}

// releaseByHash finds the committed release whose ID ends in hash, whatever
// its date; the zero Release if there is none.
func (s *Store) releaseByHash(hash string) (Release, error) {
	ids, err := s.releaseIDs()
	if err != nil {
		return Release{}, err
	}
	for _, id := range ids {
		if strings.HasSuffix(id, "-"+hash) {
			return s.Release(id)
		}
	}
	return Release{}, nil
}

// commitRelease writes the record, builds the symlink directory in tmp/
// and renames it into place; the directory is the commit marker.
func (s *Store) commitRelease(rel Release) error {
	dir := s.releaseDir(rel.ID)
	if err := s.writeJSON(dir+".json", rel); err != nil {
		return fmt.Errorf("create release %s: %w", rel.ID, err)
	}
	if err := s.reached(atReleaseRecord); err != nil {
		return fmt.Errorf("create release %s: %w", rel.ID, err)
	}
	tree, done, err := s.stagingDir("release-" + rel.ID)
	if err != nil {
		return fmt.Errorf("create release %s: %w", rel.ID, err)
	}
	defer done()
	for repo, snap := range rel.Repos {
		target := filepath.Join("..", "..", "snapshots", repo, snap)
		if err := os.Symlink(target, filepath.Join(tree, repo)); err != nil {
			return fmt.Errorf("create release %s: %w", rel.ID, err)
		}
	}
	if err := syncDir(tree); err != nil {
		return fmt.Errorf("create release %s: %w", rel.ID, err)
	}
	if err := renameNoReplace(tree, dir); err != nil {
		return fmt.Errorf("create release %s: %w", rel.ID, err)
	}
	if err := s.reached(atReleaseDir); err != nil {
		return fmt.Errorf("create release %s: %w", rel.ID, err)
	}
	if err := syncDir(s.path("releases")); err != nil {
		return fmt.Errorf("create release %s: %w", rel.ID, err)
	}
	return s.reached(atReleaseDirSync)
}

// releaseIDs lists committed releases (those whose directory exists).
func (s *Store) releaseIDs() ([]string, error) {
	entries, err := os.ReadDir(s.path("releases"))
	if err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && checkReleaseID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// Release reads one release's record; ErrNotFound if it does not exist.
func (s *Store) Release(id string) (Release, error) {
	if err := checkReleaseID(id); err != nil {
		return Release{}, err
	}
	if fi, err := os.Stat(s.releaseDir(id)); err != nil || !fi.IsDir() {
		return Release{}, fmt.Errorf("release %s: %w", id, ErrNotFound)
	}
	var rel Release
	if err := readJSON(s.releaseDir(id)+".json", &rel); err != nil {
		return Release{}, fmt.Errorf("release %s: %w", id, err)
	}
	return rel, nil
}

// Releases lists every release, newest first.
func (s *Store) Releases() ([]Release, error) {
	ids, err := s.releaseIDs()
	if err != nil {
		return nil, err
	}
	return readNewestFirst(ids, s.Release, func(r Release) (time.Time, string) { return r.CreatedAt, r.ID })
}

// readNewestFirst reads the record of each ID and sorts them newest first,
// the order every listing shows. A record that vanished since the IDs were
// listed was removed by a concurrent GC and is left out.
func readNewestFirst[T any](ids []string, read func(id string) (T, error), key func(T) (time.Time, string)) ([]T, error) {
	recs := make([]T, 0, len(ids))
	for _, id := range ids {
		rec, err := read(id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(a, b T) int {
		ta, ida := key(a)
		tb, idb := key(b)
		return cmp.Or(tb.Compare(ta), strings.Compare(idb, ida))
	})
	return recs, nil
}
