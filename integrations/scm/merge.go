package scm

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// MergeResult is what Merge did.
type MergeResult struct {
	// Commit is the merge commit pushed, or into's tip when AlreadyMerged.
	Commit        string
	AlreadyMerged bool     // from was already in into: nothing pushed
	Conflicts     []string // paths that conflicted; nothing pushed
}

// Merge merges the remote's from branch into its into branch with a merge
// commit (--no-ff, so the promotion shows as one commit that Revert can
// undo) and pushes into. message defaults to git's "Merge branch ...".
//
// A conflict returns the conflicting paths in MergeResult.Conflicts and an
// error wrapping ErrConflict; the merge is aborted and nothing is pushed.
func (r *Repo) Merge(ctx context.Context, from, into, message string) (MergeResult, error) {
	if err := checkBranches(from, into); err != nil {
		return MergeResult{}, err
	}
	if message == "" {
		message = fmt.Sprintf("Merge branch '%s' into %s", from, into)
	}
	var res MergeResult
	err := r.do(ctx, "merge "+from+" into "+into, func(g *git) error {
		res = MergeResult{}
		src, dst, err := g.tips(ctx, from, into)
		if err != nil {
			return err
		}
		if res.AlreadyMerged, err = g.check(ctx, "merge-base", "--is-ancestor", src, dst); err != nil || res.AlreadyMerged {
			res.Commit = dst
			return err
		}
		if err := g.checkout(ctx, dst); err != nil {
			return err
		}
		if _, err := g.run(ctx, "merge", "--no-ff", "--no-edit", "-m", message, src); err != nil {
			res.Conflicts, err = g.abort(ctx, "merge", err)
			return err
		}
		res.Commit, err = g.pushHead(ctx, into, dst)
		return err
	})
	return res, err
}

// Revert reverts commit on the remote's branch with a new commit, and
// pushes it. A merge commit is reverted against its first parent (-m 1),
// which undoes what the merge brought into branch. message defaults to
// git's "Revert ...". It returns the revert commit, or branch's tip if the
// changes are already gone (a retried Revert pushes nothing twice).
func (r *Repo) Revert(ctx context.Context, branch, commit, message string) (string, error) {
	if err := checkBranches(branch); err != nil {
		return "", err
	}
	if commit == "" || strings.HasPrefix(commit, "-") {
		return "", fmt.Errorf("%w: commit %q", ErrInvalid, commit)
	}
	var head string
	err := r.do(ctx, "revert "+commit+" on "+branch, func(g *git) error {
		tip, err := g.tip(ctx, branch)
		if err != nil {
			return err
		}
		c, ok, err := g.resolve(ctx, commit+"^{commit}")
		if err == nil && ok {
			ok, err = g.check(ctx, "merge-base", "--is-ancestor", c, tip)
		}
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("commit %s on branch %q: %w", commit, branch, ErrNotFound)
		}
		parents, err := g.run(ctx, "rev-list", "--parents", "-n", "1", c)
		if err != nil {
			return err
		}
		args := []string{"revert", "--no-commit"}
		if len(strings.Fields(parents)) > 2 { // the commit and two or more parents
			args = append(args, "-m", "1")
		}
		if err := g.checkout(ctx, tip); err != nil {
			return err
		}
		if _, err := g.run(ctx, append(args, c)...); err != nil {
			_, err = g.abort(ctx, "revert", err)
			return err
		}
		if unchanged, err := g.check(ctx, "diff", "--cached", "--quiet"); err != nil || unchanged {
			head = tip // the changes are gone already
			return err
		}
		commitArgs := []string{"commit", "-q", "--no-edit"} // --no-edit keeps git's "Revert ..." message
		if message != "" {
			commitArgs = []string{"commit", "-q", "-m", message}
		}
		if _, err := g.run(ctx, commitArgs...); err != nil {
			return err
		}
		head, err = g.pushHead(ctx, branch, tip)
		return err
	})
	return head, err
}

func checkBranches(branches ...string) error {
	for _, b := range branches {
		if err := checkBranch(b); err != nil {
			return err
		}
	}
	return nil
}

// checkout makes the working tree exactly rev, detached. A git killed
// mid-merge or mid-revert leaves its state and a dirty tree behind; reset
// drops that state and clean the files no commit has.
func (g *git) checkout(ctx context.Context, rev string) error {
	for _, args := range [][]string{
		{"checkout", "-q", "--force", "--detach", rev},
		{"reset", "-q", "--hard", rev},
		{"clean", "-q", "-ffdx"},
	} {
		if _, err := g.run(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// abort ends a failed merge or revert (op) and leaves the tree clean. It
// returns the unmerged paths, and err marked as ErrConflict if there were
// any: otherwise the command failed for another reason, returned as is.
func (g *git) abort(ctx context.Context, op string, err error) ([]string, error) {
	out, lerr := g.run(ctx, "diff", "--name-only", "--diff-filter=U", "-z")
	if lerr != nil {
		return nil, lerr
	}
	if _, aerr := g.run(ctx, op, "--abort"); aerr != nil {
		// No merge in progress (it failed before starting): start clean anyway.
		if rerr := g.checkout(ctx, "HEAD"); rerr != nil {
			return nil, rerr
		}
	}
	if out == "" {
		return nil, err
	}
	paths := strings.Split(strings.TrimRight(out, "\x00"), "\x00")
	slices.Sort(paths)
	return paths, fmt.Errorf("%w in %s: %w", ErrConflict, strings.Join(paths, ", "), err)
}

// pushHead pushes HEAD to branch and returns it ("" if not pushed).
func (g *git) pushHead(ctx context.Context, branch, old string) (string, error) {
	head, err := g.run(ctx, "rev-parse", "HEAD")
	if err == nil {
		err = g.push(ctx, head, branch, old)
	}
	if err != nil {
		return "", err
	}
	return head, nil
}

// push sets the remote's branch to commit if it still is at old ("" for a
// branch that must not exist yet). The lease makes "the remote moved" an
// explicit refusal (errRaced) even when our commit would fast-forward it.
func (g *git) push(ctx context.Context, commit, branch, old string) error {
	if g.beforePush != nil {
		g.beforePush()
	}
	_, err := g.run(ctx, "push", "--quiet", "--force-with-lease=refs/heads/"+branch+":"+old,
		"origin", commit+":refs/heads/"+branch)
	return err
}
