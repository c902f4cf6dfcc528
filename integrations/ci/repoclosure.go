package ci

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// maxRepoclosureOutput bounds the dnf repoclosure report we parse. Even a
// channel where every package misses a dependency stays far below it.
const maxRepoclosureOutput = 32 << 20

// Repoclosure checks that every package in the channel's repos has its
// dependencies met by the channel's repos together: one case per repo,
// failing with the repo's unresolved dependencies. It runs dnf repoclosure
// once over all repos; dnf names the repo of every package it reports.
type Repoclosure struct {
	SuiteName string        // default "repoclosure"
	Timeout   time.Duration // zero: no limit beyond ctx
}

func (r Repoclosure) Name() string { return cmp.Or(r.SuiteName, "repoclosure") }

// Run runs dnf repoclosure against t. Unresolved dependencies (dnf's exit
// status 1 with its report) are failed cases; any other failure, such as
// an unreachable repo, is ErrBroken.
func (r Repoclosure) Run(ctx context.Context, t Target) (Result, error) {
	name := r.Name()
	if err := t.validate(); err != nil {
		return Result{}, fmt.Errorf("suite %s: %w", name, err)
	}
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	d, err := newDNF(t)
	if err != nil {
		return Result{}, fmt.Errorf("suite %s: %w", name, err)
	}
	defer d.close()

	args := []string{"--disableplugin=*", "--enableplugin=repoclosure", "--refresh", "repoclosure"}
	for _, repo := range t.Repos {
		args = append(args, "--check="+repo)
	}
	res, err := d.run(ctx, maxRepoclosureOutput, args...)
	if err != nil {
		return Result{}, fmt.Errorf("suite %s: channel %s: %w%s", name, t.BaseURL, err, stderrNote(res))
	}
	broken := func(why string) error {
		return fmt.Errorf("%w: suite %s: channel %s: dnf repoclosure %s (%s)%s", ErrBroken, name, t.BaseURL, why, res.state, stderrNote(res))
	}
	unresolved := parseRepoclosure(res.stdout)
	switch {
	case res.stdoutCut:
		return Result{}, broken(fmt.Sprintf("printed more than %d bytes", maxRepoclosureOutput))
	case res.code == 0 && len(unresolved) == 0:
	case res.code == 1 && len(unresolved) > 0:
	default:
		// dnf crashed, or could not load a repo: that says nothing about
		// the packages' dependencies.
		return Result{}, broken("failed")
	}

	result := Result{Suite: name}
	for _, repo := range t.Repos {
		c := Case{Suite: name, Name: repo, Status: Passed}
		if pkgs := unresolved[repo]; len(pkgs) > 0 {
			c.Status, c.Message = Failed, truncate(formatUnresolved(pkgs), maxMessage)
		}
		result.Cases = append(result.Cases, c)
		delete(unresolved, repo)
	}
	if len(unresolved) > 0 {
		return Result{}, broken(fmt.Sprintf("reported packages from repos we did not check: %s", strings.Join(slices.Sorted(maps.Keys(unresolved)), ", ")))
	}
	return result, nil
}

// unresolvedPkg is one package dnf repoclosure reported.
type unresolvedPkg struct {
	nevra string
	deps  []string
}

// parseRepoclosure reads dnf repoclosure's report, by repo:
//
//	package: app-1.0-1.noarch from b
//	  unresolved deps (1):
//	    missing-lib >= 2
//
// Older dnf versions write "unresolved deps:" without the count.
func parseRepoclosure(out string) map[string][]unresolvedPkg {
	byRepo := map[string][]unresolvedPkg{}
	var cur *unresolvedPkg
	var curRepo string
	flush := func() {
		if cur != nil {
			byRepo[curRepo] = append(byRepo[curRepo], *cur)
		}
		cur = nil
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "package: "):
			flush()
			nevra, repo, ok := cutLast(strings.TrimPrefix(line, "package: "), " from ")
			if !ok {
				continue
			}
			cur, curRepo = &unresolvedPkg{nevra: nevra}, repo
		case cur == nil, trimmed == "", strings.HasPrefix(trimmed, "unresolved deps"):
		case strings.HasPrefix(line, " "):
			cur.deps = append(cur.deps, trimmed)
		default:
			flush()
		}
	}
	flush()
	return byRepo
}

// formatUnresolved lists one package and its missing dependency a line:
// "app-1.0-1.noarch requires missing-lib >= 2".
func formatUnresolved(pkgs []unresolvedPkg) string {
	var b strings.Builder
	for _, p := range pkgs {
		if len(p.deps) == 0 {
			fmt.Fprintf(&b, "%s has unresolved dependencies\n", p.nevra)
		}
		for _, dep := range p.deps {
			fmt.Fprintf(&b, "%s requires %s\n", p.nevra, dep)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
