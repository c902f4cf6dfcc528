package repo

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// CarryStale plans a release in which the repos in failed, whose sync
// failed, keep the snapshot prev gives them: it returns those snapshots
// and the stale marks, each outage dated from the first release that
// marked it (prev's mark, else at). A repo prev does not have cannot be
// carried over: the error names it. Pure, so a retry plans the same.
func CarryStale(prev Release, failed map[string]StaleRepo, at time.Time) (map[string]string, map[string]StaleRepo, error) {
	snaps := make(map[string]string, len(failed))
	stale := make(map[string]StaleRepo, len(failed))
	for _, name := range slices.Sorted(maps.Keys(failed)) {
		snap, ok := prev.Repos[name]
		if !ok {
			where := "no release was published before"
			if prev.ID != "" {
				where = "release " + prev.ID + " has none"
			}
			return nil, nil, fmt.Errorf("repo %s failed to sync and has no earlier snapshot to keep (%s): %w: %s", name, where, ErrNotFound, failed[name].Cause)
		}
		mark := failed[name]
		mark.Since = at.UTC()
		if was, ok := prev.Stale[name]; ok {
			mark.Since = was.Since
		}
		snaps[name], stale[name] = snap, mark
	}
	return snaps, stale, nil
}

// Recovered lists, sorted, the repos prev marked stale that are no
// longer stale in stale: their outage is over.
func Recovered(prev Release, stale map[string]StaleRepo) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(prev.Stale)) {
		if _, still := stale[name]; !still {
			out = append(out, name)
		}
	}
	return out
}
