package scm

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// ReadFunc reads a file at the branch tip an edit applies to. A missing
// file, or a branch the remote does not have yet, is an error wrapping
// fs.ErrNotExist.
type ReadFunc func(path string) ([]byte, error)

// EditFunc computes the files to write from the branch's current content.
// It may run twice: again on the new tip when another pusher got there
// first, so it must derive everything from read.
type EditFunc func(read ReadFunc) (map[string][]byte, error)

// Commit writes files (slash-separated paths relative to the repo root) on
// the remote's branch in one commit and pushes it, creating the branch if
// the remote has none (as a root commit holding only files). Other files
// are kept. If every file already has the given content nothing is
// committed: changed is false and commit is the branch's tip.
func (r *Repo) Commit(ctx context.Context, branch string, files map[string][]byte, message string) (commit string, changed bool, err error) {
	for p := range files { // refused before any network round trip
		if err := checkPath(p); err != nil {
			return "", false, err
		}
	}
	return r.Edit(ctx, branch, message, func(ReadFunc) (map[string][]byte, error) { return files, nil })
}

// Edit is Commit with files computed from the branch's content, for
// read-modify-write updates (the wiki's index page) that must not lose a
// concurrent change: on a push race, edit runs again on the new tip.
//
// Files are written with mode 100644 and exactly the bytes given: the
// commit is built with plumbing in a private index, without a checkout, so
// no attribute, filter or line-ending conversion applies.
func (r *Repo) Edit(ctx context.Context, branch, message string, edit EditFunc) (commit string, changed bool, err error) {
	if err := checkBranch(branch); err != nil {
		return "", false, err
	}
	if strings.TrimSpace(message) == "" {
		return "", false, fmt.Errorf("%w: empty commit message", ErrInvalid)
	}
	err = r.do(ctx, "commit to "+branch, func(g *git) error {
		tip, exists, err := g.resolve(ctx, remoteRef(branch)+"^{commit}")
		if err != nil {
			return err
		}
		files, err := edit(func(p string) ([]byte, error) {
			if !exists {
				return nil, fmt.Errorf("%s: branch %q: %w", p, branch, fs.ErrNotExist)
			}
			return g.readFile(ctx, tip, p)
		})
		if err != nil {
			return err
		}
		commit, changed, err = g.commitFiles(ctx, tip, files, message)
		if err == nil && changed {
			err = g.push(ctx, commit, branch, tip)
		}
		return err
	})
	return commit, changed, err
}

// readFile reads p at commit rev.
func (g *git) readFile(ctx context.Context, rev, p string) ([]byte, error) {
	if err := checkPath(p); err != nil {
		return nil, err
	}
	blob, ok, err := g.resolve(ctx, rev+":"+p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	var content bytes.Buffer // not run: it trims
	if _, err := g.exec(ctx, call{args: []string{"cat-file", "blob", blob}, stdout: &content}); err != nil {
		return nil, err
	}
	return content.Bytes(), nil
}

// commitFiles builds a commit of parent ("" for none) with files written,
// in a private index so the working tree and its state do not matter.
// changed is false, and commit is parent, when the tree would not change.
func (g *git) commitFiles(ctx context.Context, parent string, files map[string][]byte, message string) (commit string, changed bool, err error) {
	if len(files) == 0 {
		return "", false, fmt.Errorf("%w: no files to commit", ErrInvalid)
	}
	index := filepath.Join(g.dir, ".git", "osflow-index")
	defer os.Remove(index)
	if err := os.Remove(index); err != nil && !os.IsNotExist(err) {
		return "", false, err
	}
	withIndex := []string{"GIT_INDEX_FILE=" + index}
	readTree := []string{"read-tree", "--empty"}
	if parent != "" {
		readTree = []string{"read-tree", parent}
	}
	if _, err := g.exec(ctx, call{args: readTree, env: withIndex}); err != nil {
		return "", false, err
	}
	// One "mode SP hash TAB path NUL" record per file for update-index -z.
	var entries strings.Builder
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if err := checkPath(p); err != nil {
			return "", false, err
		}
		// From stdin without --path, hash-object stores the bytes as given.
		blob, err := g.exec(ctx, call{args: []string{"hash-object", "-w", "--stdin"}, stdin: files[p]})
		if err != nil {
			return "", false, err
		}
		fmt.Fprintf(&entries, "100644 %s\t%s\x00", blob, p)
	}
	if _, err := g.exec(ctx, call{args: []string{"update-index", "-z", "--index-info"}, stdin: []byte(entries.String()), env: withIndex}); err != nil {
		return "", false, err
	}
	tree, err := g.exec(ctx, call{args: []string{"write-tree"}, env: withIndex})
	if err != nil {
		return "", false, err
	}
	commitTree := []string{"commit-tree", tree}
	if parent != "" {
		old, err := g.run(ctx, "rev-parse", parent+"^{tree}")
		if err != nil || old == tree {
			return parent, false, err
		}
		commitTree = append(commitTree, "-p", parent)
	}
	// commit-tree reads the message from stdin, so it is never on a command line.
	commit, err = g.exec(ctx, call{args: commitTree, stdin: []byte(message)})
	return commit, err == nil, err
}

// checkPath accepts a clean, relative, slash-separated path that stays in
// the repo and out of .git.
func checkPath(p string) error {
	bad := p == "" || p == "." || p != path.Clean(p) || path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") ||
		strings.ContainsAny(p, "\x00\\")
	for part := range strings.SplitSeq(p, "/") {
		bad = bad || strings.EqualFold(part, ".git")
	}
	if bad {
		return fmt.Errorf("%w: file path %q", ErrInvalid, p)
	}
	return nil
}
