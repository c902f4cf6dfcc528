package scm

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// MergeResult is what Merge did.
type MergeResult struct {
	// Commit is the commit pushed (the merge commit, or the commit that
	// reapplies reverted changes when there was nothing else to merge),
	// or into's tip when AlreadyMerged.
	Commit        string
	AlreadyMerged bool     // nothing to merge or reapply: nothing pushed
	Conflicts     []string // paths that conflicted; nothing pushed
	// Reapplied are the reverts of tested changes that the merge undid.
	Reapplied []Commit
}

// Merge merges the remote's from branch into its into branch with a merge
// commit (--no-ff, so the promotion shows as one commit that Revert can
// undo) and pushes into. message defaults to git's "Merge branch ...".
//
// tested is the branch whose state the merge must keep (from in a
// promotion, into in a merge-back), "" for none. A revert of a tested
// change made on the other branch (a failed promotion's rollback) is
// undone by the same commit: merging a tested branch into a production
// that reverted it brings the changes again, although git sees the
// commits as merged, and merging production back into test does not carry
// the revert with it. The commit's message names each revert it undoes
// ("This reverts commit ..."), so a retry finds nothing left to do.
//
// A conflict returns the conflicting paths in MergeResult.Conflicts and an
// error wrapping ErrConflict; the merge is aborted and nothing is pushed.
func (r *Repo) Merge(ctx context.Context, from, into, tested, message string) (MergeResult, error) {
	if err := checkMerge(from, into, tested); err != nil {
		return MergeResult{}, err
	}
	if message == "" {
		message = fmt.Sprintf("Merge branch '%s' into %s", from, into)
	}
	var res MergeResult
	err := r.do(ctx, "merge "+from+" into "+into, func(g *git) error {
		var err error
		var dst string
		res, dst, err = g.merge(ctx, from, into, tested, message)
		if err != nil || res.AlreadyMerged {
			return err
		}
		res.Commit, err = g.pushHead(ctx, into, dst)
		return err
	})
	return res, err
}

// MergePreview is what merging from into into would change, computed in
// the cache and never pushed.
type MergePreview struct {
	Commits   []Commit // on from and not on into: what the merge brings
	OnlyInto  []Commit // on into and not on from (production's hotfixes, reverts)
	Reapplied []Commit // reverts of tested changes the merge undoes
	Conflicts []string
	// Stat and Patch are into's change, from its tip to the merge result
	// (Patch cut to maxBytes as Diff does).
	Stat, Patch string
	Truncated   bool
}

// PreviewMerge computes Merge(from, into, tested) without pushing: what
// the risk report shows, reapplied reverts and production's own commits
// included.
func (r *Repo) PreviewMerge(ctx context.Context, from, into, tested string, maxBytes int) (MergePreview, error) {
	if err := checkMerge(from, into, tested); err != nil {
		return MergePreview{}, err
	}
	var p MergePreview
	err := r.do(ctx, "preview the merge of "+from+" into "+into, func(g *git) error {
		p = MergePreview{}
		src, dst, err := g.tips(ctx, from, into)
		if err != nil {
			return err
		}
		if p.Commits, err = g.log(ctx, dst, src); err != nil {
			return err
		}
		if p.OnlyInto, err = g.log(ctx, src, dst); err != nil {
			return err
		}
		res, _, err := g.merge(ctx, from, into, tested, "preview")
		p.Reapplied, p.Conflicts = res.Reapplied, res.Conflicts
		if errors.Is(err, ErrConflict) || res.AlreadyMerged {
			return nil
		}
		if err != nil {
			return err
		}
		p.Stat, p.Patch, p.Truncated, err = g.diff(ctx, dst+"..HEAD", maxBytes)
		return err
	})
	return p, err
}

func checkMerge(from, into, tested string) error {
	if err := checkBranches(from, into); err != nil {
		return err
	}
	if tested != "" && tested != from && tested != into {
		return fmt.Errorf("%w: tested branch %q is neither %q nor %q", ErrInvalid, tested, from, into)
	}
	return nil
}

// merge makes the merge of from into into as HEAD of the clone, unpushed,
// and returns it with into's tip. AlreadyMerged means HEAD was not moved.
func (g *git) merge(ctx context.Context, from, into, tested, message string) (MergeResult, string, error) {
	var res MergeResult
	src, dst, err := g.tips(ctx, from, into)
	if err != nil {
		return res, "", err
	}
	merged, err := g.check(ctx, "merge-base", "--is-ancestor", src, dst)
	if err != nil {
		return res, dst, err
	}
	if tested != "" {
		keep, other := src, dst
		if tested == into {
			keep, other = dst, src
		}
		if res.Reapplied, err = g.revertsOf(ctx, keep, other); err != nil {
			return res, dst, err
		}
	}
	if merged && len(res.Reapplied) == 0 {
		res.Commit, res.AlreadyMerged = dst, true
		return res, dst, nil
	}
	if len(res.Reapplied) == 0 {
		if err := g.checkout(ctx, dst); err != nil {
			return res, dst, err
		}
		if _, err := g.run(ctx, "merge", "--no-ff", "--no-edit", "-m", message, src); err != nil {
			res.Conflicts, err = g.abort(ctx, "merge", err)
			return res, dst, err
		}
		return res, dst, nil
	}
	var b strings.Builder
	b.WriteString(message + "\n\nReapplies the tested changes that these reverts undid:\n")
	for _, c := range res.Reapplied {
		fmt.Fprintf(&b, "\n%.10s %s\nThis reverts commit %s.\n", c.Hash, c.Subject, c.Hash)
	}
	if merged {
		if err := g.reapply(ctx, dst, res.Reapplied); err != nil {
			res.Conflicts, err = g.abort(ctx, "revert", err)
			return res, dst, err
		}
		_, err = g.run(ctx, "commit", "-q", "--allow-empty", "-m", b.String())
		return res, dst, err
	}
	// The reverts are undone on their side first, then that is merged: a
	// tested change made after the one production reverted (the same
	// lines, changed again on test) would otherwise conflict with the
	// revert. One merge commit of dst and src holds the result, so one
	// Revert undoes it all.
	other := dst
	if tested == into {
		other = src
	}
	if err := g.reapply(ctx, other, res.Reapplied); err != nil {
		res.Conflicts, err = g.abort(ctx, "revert", err)
		return res, dst, err
	}
	if _, err := g.run(ctx, "commit", "-q", "--allow-empty", "-m", "osflow: reapply"); err != nil {
		return res, dst, err
	}
	theirs := src
	if other == src {
		if theirs, err = g.run(ctx, "rev-parse", "HEAD"); err != nil {
			return res, dst, err
		}
		if err := g.checkout(ctx, dst); err != nil {
			return res, dst, err
		}
	}
	if _, err := g.run(ctx, "merge", "--no-ff", "--no-edit", "-m", "osflow: merge", theirs); err != nil {
		res.Conflicts, err = g.abort(ctx, "merge", err)
		return res, dst, err
	}
	commit, err := g.run(ctx, "commit-tree", "HEAD^{tree}", "-p", dst, "-p", src, "-m", b.String())
	if err != nil {
		return res, dst, err
	}
	return res, dst, g.checkout(ctx, commit)
}

// reapply checks out base and reverts each of reverts on it, uncommitted.
func (g *git) reapply(ctx context.Context, base string, reverts []Commit) error {
	if err := g.checkout(ctx, base); err != nil {
		return err
	}
	for _, c := range reverts {
		args := []string{"revert", "--no-commit"}
		if parents, err := g.parents(ctx, c.Hash); err != nil {
			return err
		} else if len(parents) > 1 {
			args = append(args, "-m", "1")
		}
		if _, err := g.run(ctx, append(args, c.Hash)...); err != nil {
			return err
		}
	}
	return nil
}

// FindMerge returns the newest merge on the remote's branch whose message
// contains text (an operation marker), with the reverts it reapplied as
// its message names them: what the Merge that pushed it returned, found
// by a retry (Commit "" if there is none).
func (r *Repo) FindMerge(ctx context.Context, branch, text string) (MergeResult, error) {
	hash, err := r.FindCommit(ctx, branch, text)
	if err != nil || hash == "" {
		return MergeResult{}, err
	}
	res := MergeResult{Commit: hash}
	err = r.do(ctx, "read merge "+hash, func(g *git) error {
		body, err := g.run(ctx, "log", "-n", "1", "--format=%B", hash)
		if err != nil {
			return err
		}
		res.Reapplied = reappliedIn(body)
		return nil
	})
	return res, err
}

// reapplied matches one revert the message of a Merge names: its short
// hash and subject, then git's revert line with the full hash.
var reapplied = regexp.MustCompile(`(?m)^[0-9a-f]{10} (.*)\nThis reverts commit ([0-9a-f]{40})\.$`)

// reappliedIn reads the reverts a Merge's message says it reapplied.
func reappliedIn(body string) []Commit {
	_, list, ok := strings.Cut(body, "\nReapplies the tested changes that these reverts undid:\n")
	if !ok {
		return nil
	}
	var out []Commit
	for _, m := range reapplied.FindAllStringSubmatch(list, -1) {
		out = append(out, Commit{Hash: m[2], Subject: m[1]})
	}
	return out
}

// revertMarker is the line git's revert writes, and Revert too.
var revertMarker = regexp.MustCompile(`(?m)^This reverts commit ([0-9a-f]{40})\b`)

// revertsOf lists the reverts on other and not on keep that still undo
// changes keep holds, newest first: the revert of a commit keep has, or
// of a merge whose merged side keep has. A revert stops counting when a
// revert of it counts (revert of the revert, possibly by an earlier
// Merge).
func (g *git) revertsOf(ctx context.Context, keep, other string) ([]Commit, error) {
	all, err := g.revertLog(ctx, keep, other)
	if err != nil {
		return nil, err
	}
	// reverted[c] are the commits that revert c, anywhere on both branches.
	reverted := map[string][]string{}
	for _, c := range all {
		for _, m := range revertMarker.FindAllStringSubmatch(c.body, -1) {
			reverted[m[1]] = append(reverted[m[1]], c.Hash)
		}
	}
	effective := map[string]bool{}
	var counts func(c string, depth int) bool
	counts = func(c string, depth int) bool {
		if v, ok := effective[c]; ok || depth > len(all) {
			return v
		}
		v := true
		for _, r := range reverted[c] {
			if counts(r, depth+1) {
				v = false
				break
			}
		}
		effective[c] = v
		return v
	}
	var out []Commit
	for _, c := range all {
		if c.onKeep || !counts(c.Hash, 0) {
			continue
		}
		for _, m := range revertMarker.FindAllStringSubmatch(c.body, -1) {
			tested, err := g.holds(ctx, keep, m[1])
			if err != nil {
				return nil, err
			}
			if tested {
				out = append(out, c.Commit)
				break
			}
		}
	}
	return out, nil
}

type revertCommit struct {
	Commit
	body   string
	onKeep bool
}

// revertLog lists the commits on keep or other whose message says they
// revert a commit, newest first.
func (g *git) revertLog(ctx context.Context, keep, other string) ([]revertCommit, error) {
	grep := []string{"log", "-E", "--grep=^This reverts commit [0-9a-f]{40}"}
	out, err := g.run(ctx, append(grep, "-z", "--format=%H%x1f%s%x1f%B", keep, other)...)
	if err != nil || out == "" {
		return nil, err
	}
	// Two commands, however many reverts the history holds.
	offKeep, err := g.run(ctx, append(grep, "--format=%H", other, "^"+keep)...)
	if err != nil {
		return nil, err
	}
	notOnKeep := map[string]bool{}
	for _, h := range strings.Fields(offKeep) {
		notOnKeep[h] = true
	}
	var cs []revertCommit
	for rec := range strings.SplitSeq(strings.TrimSuffix(out, "\x00"), "\x00") {
		f := strings.SplitN(rec, "\x1f", 3)
		if len(f) != 3 {
			return nil, fmt.Errorf("unexpected log record %q", rec)
		}
		cs = append(cs, revertCommit{Commit: Commit{Hash: f[0], Subject: f[1]}, body: f[2], onKeep: !notOnKeep[f[0]]})
	}
	return cs, nil
}

// holds says whether keep has the changes of commit c: c is on keep, or c
// is a merge whose merged side (second parent) is.
func (g *git) holds(ctx context.Context, keep, c string) (bool, error) {
	parents, err := g.parents(ctx, c)
	if err != nil || len(parents) == 0 {
		return false, err
	}
	target := c
	if len(parents) > 1 {
		target = parents[1]
	}
	return g.check(ctx, "merge-base", "--is-ancestor", target, keep)
}

// parents lists c's parents; none for an unknown commit.
func (g *git) parents(ctx context.Context, c string) ([]string, error) {
	if _, ok, err := g.resolve(ctx, c+"^{commit}"); err != nil || !ok {
		return nil, err
	}
	out, err := g.run(ctx, "rev-list", "--parents", "-n", "1", c)
	if err != nil {
		return nil, err
	}
	return strings.Fields(out)[1:], nil
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
			// git's line, which Merge reads to find reverts of tested changes.
			commitArgs = []string{"commit", "-q", "-m", message + "\n\nThis reverts commit " + c + "."}
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
	if err == nil && g.crash != nil {
		err = g.crash(AtPush)
	}
	return err
}
