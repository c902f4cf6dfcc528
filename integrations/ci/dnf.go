package ci

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// dnf runs dnf against a channel's repos and nothing else. Each suite run
// gets its own directory for dnf's config, cache, logs and state, so that
// neither the host's setup nor an earlier run changes the answer:
//
//   - an empty config file replaces /etc/dnf/dnf.conf (Debian's sets
//     skip_if_unavailable=True, with which an unreachable repo is skipped
//     and the closure "passes"), and an empty reposdir hides the host's
//     repos;
//   - skip_if_unavailable=False makes an unreachable repo an error;
//   - plugins are off except the one a command needs: Debian's "local"
//     plugin would offer packages from /var/lib/dnf/plugins/local as an
//     extra repo, and versionlock would hide versions;
//   - the locale is C.UTF-8, because we parse dnf's output, which is
//     translated;
//   - releasever is fixed: no system-release package tells dnf, and the
//     repo URLs do not use it.
type dnf struct {
	dir  string
	args []string
}

func newDNF(t Target) (*dnf, error) {
	dir, err := os.MkdirTemp("", "osflow-dnf-")
	if err != nil {
		return nil, err
	}
	d := &dnf{dir: dir}
	conf := filepath.Join(dir, "dnf.conf")
	if err := os.WriteFile(conf, []byte("[main]\n"), 0o644); err != nil {
		d.close()
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "repos.d"), 0o755); err != nil {
		d.close()
		return nil, err
	}
	d.args = []string{
		"dnf",
		"--config=" + conf,
		"--setopt=reposdir=" + filepath.Join(dir, "repos.d"),
		"--setopt=cachedir=" + filepath.Join(dir, "cache"),
		"--setopt=logdir=" + filepath.Join(dir, "log"),
		"--setopt=persistdir=" + filepath.Join(dir, "persist"),
		"--setopt=skip_if_unavailable=False",
		"--releasever=9",
	}
	for _, r := range t.Repos {
		d.args = append(d.args, fmt.Sprintf("--repofrompath=%s,%s", r, t.RepoURL(r)))
	}
	for _, r := range t.Repos {
		d.args = append(d.args, "--repo="+r)
	}
	return d, nil
}

func (d *dnf) close() { os.RemoveAll(d.dir) }

// run runs dnf with the common options and then args, keeping up to
// stdoutMax bytes of stdout (zero: tailSize).
func (d *dnf) run(ctx context.Context, stdoutMax int, args ...string) (exited, error) {
	return execute(ctx, process{
		argv:      append(append([]string(nil), d.args...), args...),
		env:       childEnv("LC_ALL=C.UTF-8", "LANG=C.UTF-8"),
		stdoutMax: stdoutMax,
	})
}
