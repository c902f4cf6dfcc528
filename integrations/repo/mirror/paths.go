package mirror

import (
	"fmt"
	"path"

	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// treePaths is the set of file paths of a snapshot tree as it is planned.
// It refuses a path that is also a directory of another (Packages/a.rpm
// and Packages/a.rpm/b.rpm): the store could not lay out both, and would
// fail the commit on every attempt after the whole download.
type treePaths struct {
	files map[string]bool
	dirs  map[string]string // directory → the first file below it
}

func newTreePaths(paths ...string) *treePaths {
	t := &treePaths{files: map[string]bool{}, dirs: map[string]string{}}
	for _, p := range paths {
		if err := t.add(p); err != nil {
			panic(err) // the caller's own constant paths
		}
	}
	return t
}

// add records the clean relative path p, or says why it cannot be in the
// tree.
func (t *treePaths) add(p string) error {
	if t.files[p] {
		return fmt.Errorf("%w: %s is named twice (a package at a metadata file's path?)", rpmmd.ErrMalformed, p)
	}
	if below, ok := t.dirs[p]; ok {
		return fmt.Errorf("%w: %s is a file, but %s needs it to be a directory", rpmmd.ErrMalformed, p, below)
	}
	for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
		if t.files[dir] {
			return fmt.Errorf("%w: %s needs %s to be a directory, but it is a file", rpmmd.ErrMalformed, p, dir)
		}
		if _, ok := t.dirs[dir]; ok {
			break // its parents were recorded with it
		}
		t.dirs[dir] = p
	}
	t.files[p] = true
	return nil
}
