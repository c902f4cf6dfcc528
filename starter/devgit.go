package starter

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/osflow/osflow/config"
)

// seedDevGit creates the local bare repos the dev configuration names for
// config management, monitoring and the wiki, so that a fresh `make run`
// has real branches to diff and merge. Existing repos are left alone.
func seedDevGit(ctx context.Context, cfg *config.Config) error {
	type seed struct {
		url   string
		files map[string]string // on production
		test  map[string]string // the change waiting on test
	}
	var seeds []seed
	for _, r := range cfg.Git.Config {
		seeds = append(seeds, seed{r.URL,
			map[string]string{"manifests/site.pp": "node default {\n  include hpc::base\n}\n"},
			map[string]string{"manifests/site.pp": "node default {\n  include hpc::base\n  include hpc::slurm_client\n}\n"}})
	}
	for _, r := range cfg.Git.Monitoring {
		seeds = append(seeds, seed{r.URL,
			map[string]string{"services.cfg": "define service {\n  service_description  ssh\n}\n"},
			map[string]string{"services.cfg": "define service {\n  service_description  ssh\n}\ndefine service {\n  service_description  slurmd\n}\n"}})
	}
	if cfg.Wiki.URL != "" {
		seeds = append(seeds, seed{url: cfg.Wiki.URL, files: map[string]string{"Home.md": "# HPC procedures\n"}})
	}
	for _, s := range seeds {
		if !strings.HasPrefix(s.url, cfg.Dev.GitDir) {
			continue // a real remote: not ours to create
		}
		if _, err := os.Stat(s.url); err == nil {
			continue
		}
		if err := seedRepo(ctx, s.url, s.files, s.test); err != nil {
			return fmt.Errorf("seed dev git repo %s: %w", s.url, err)
		}
	}
	return nil
}

func seedRepo(ctx context.Context, bare string, prod, test map[string]string) error {
	bare, err := filepath.Abs(bare)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "osflow-seed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	git := func(dir string, args ...string) error {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "user.name=osflow dev", "-c", "user.email=osflow@localhost",
			"-c", "init.defaultBranch=production", "-c", "commit.gpgSign=false"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	write := func(files map[string]string) error {
		for p, content := range files {
			full := filepath.Join(work, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(bare), 0o755); err != nil {
		return err
	}
	steps := []func() error{
		func() error { return git(filepath.Dir(bare), "init", "--bare", "--initial-branch=master", bare) },
		func() error { return git(work, "init", "--initial-branch=production") },
		func() error { return write(prod) },
		func() error { return git(work, "add", "-A") },
		func() error { return git(work, "commit", "-m", "initial production state") },
		func() error { return git(work, "push", bare, "production:production", "production:master") },
	}
	if test != nil {
		steps = append(steps,
			func() error { return git(work, "checkout", "-b", "test") },
			func() error { return write(test) },
			func() error { return git(work, "commit", "-am", "change prepared on the test cluster") },
			func() error { return git(work, "push", bare, "test:test") },
		)
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}
