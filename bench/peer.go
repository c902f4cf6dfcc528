package main

// The peer tools osflow is measured against: dnf reposync, dnf repodiff and cp -al.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
)

// dnfEnv is a private dnf configuration: no system repos, logs and caches
// under the workdir.
type dnfEnv struct {
	Dir      string // holds dnf.conf, repos.d/, log/, persist/
	Parallel int    // max_parallel_downloads; 0 keeps dnf's default
}

func newDNFEnv(dir string, parallel int) (*dnfEnv, error) {
	for _, d := range []string{"repos.d", "log", "persist"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	conf := fmt.Sprintf(`[main]
reposdir=%[1]s/repos.d
logdir=%[1]s/log
persistdir=%[1]s/persist
cachedir=%[1]s/cache
gpgcheck=0
repo_gpgcheck=0
keepcache=0
install_weak_deps=0
`, dir)
	if parallel > 0 {
		conf += fmt.Sprintf("max_parallel_downloads=%d\n", parallel)
	}
	return &dnfEnv{Dir: dir, Parallel: parallel}, os.WriteFile(filepath.Join(dir, "dnf.conf"), []byte(conf), 0o644)
}

// argv is the dnf command line up to the subcommand's own arguments.
func (e *dnfEnv) argv(cacheDir string, args ...string) []string {
	return append([]string{"dnf", "-c", filepath.Join(e.Dir, "dnf.conf"), "-y", "--releasever=bench",
		"--setopt=cachedir=" + cacheDir}, args...)
}

// reposync runs dnf reposync --download-metadata of url into dest/bench.
func (e *dnfEnv) reposync(ctx context.Context, url, dest, cacheDir string) (measured, error) {
	repo := fmt.Sprintf("[bench]\nname=bench\nbaseurl=%s\nenabled=1\ngpgcheck=0\nrepo_gpgcheck=0\n", url)
	if err := os.WriteFile(filepath.Join(e.Dir, "repos.d", "bench.repo"), []byte(repo), 0o644); err != nil {
		return measured{}, err
	}
	return runMeasured(ctx, filepath.Join(e.Dir, "reposync.log"), nil,
		e.argv(cacheDir, "reposync", "--download-metadata", "-p", dest, "--repoid", "bench")...)
}

// Without --downgrade, dnf repodiff counts upgrades as "Modified packages".
var upgradedRE = regexp.MustCompile(`(?m)^(?:Upgraded|Modified) packages:\s*(\d+)`)

// repodiff runs dnf repodiff between two upstreams with a cold cache and
// returns the count of changed packages it printed (every change in the
// synthetic update is an upgrade).
func (e *dnfEnv) repodiff(ctx context.Context, oldURL, newURL, cacheDir string) (measured, int, error) {
	if err := os.Remove(filepath.Join(e.Dir, "repos.d", "bench.repo")); err != nil && !os.IsNotExist(err) {
		return measured{}, 0, err
	}
	m, err := runMeasured(ctx, filepath.Join(e.Dir, "repodiff.log"), nil,
		e.argv(cacheDir, "repodiff", "--arch=x86_64,noarch",
			"--repofrompath=old,"+oldURL, "--repofrompath=new,"+newURL,
			"--repo-old=old", "--repo-new=new")...)
	if err != nil {
		return m, 0, err
	}
	match := upgradedRE.FindSubmatch(m.Stdout)
	if match == nil {
		return m, 0, fmt.Errorf("dnf repodiff: no %q line in its output", "Modified packages")
	}
	n, _ := strconv.Atoi(string(match[1]))
	return m, n, nil
}

// copyLinks runs cp -al src dst.
func copyLinks(ctx context.Context, logPath, src, dst string) (measured, error) {
	return runMeasured(ctx, logPath, nil, "cp", "-al", src, dst)
}
