package scm

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/scm/scmtest"
)

// clientHooks are the hooks a client-side git may run. In the hostile
// config they all fail, except in a bare repo: the test remote's
// receive-pack reads the same global config and is not ours to guard.
var clientHooks = []string{
	"pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "pre-merge-commit",
	"post-merge", "post-checkout", "pre-push", "reference-transaction", "post-rewrite",
}

// hostileConfig is a global config that breaks or changes every command
// osflow runs unless the -c options and environment of gitEnv win over it.
const hostileConfig = `[user]
	name = Hostile User
	email = hostile@example.org
[core]
	hooksPath = %[1]s
	autocrlf = true
	safecrlf = true
	editor = false
[init]
	templateDir = %[2]s
[commit]
	gpgSign = true
[push]
	gpgSign = true
	followTags = true
[merge]
	ff = only
	log = true
	verifySignatures = true
[rerere]
	enabled = true
[diff]
	noprefix = true
	external = false
	mnemonicPrefix = true
[color]
	ui = always
[log]
	showSignature = true
[submodule]
	recurse = true
`

// newRepo is a Repo on url with a fresh cache and a hostile global config
// in its environment, as a careless service account might have.
func newRepo(t *testing.T, url string) *Repo {
	t.Helper()
	dir := t.TempDir()
	hooks := filepath.Join(dir, "hooks")
	template := filepath.Join(dir, "template")
	require.NoError(t, os.MkdirAll(filepath.Join(template, "hooks"), 0o755))
	require.NoError(t, os.MkdirAll(hooks, 0o755))
	for _, h := range clientHooks {
		script := "#!/bin/sh\ntest \"$(git rev-parse --is-bare-repository)\" = true && exit 0\necho hostile " + h + " hook ran >&2\nexit 1\n"
		for _, d := range []string{hooks, filepath.Join(template, "hooks")} {
			require.NoError(t, os.WriteFile(filepath.Join(d, h), []byte(script), 0o755))
		}
	}
	config := filepath.Join(dir, "gitconfig")
	require.NoError(t, os.WriteFile(config, fmt.Appendf(nil, hostileConfig, hooks, template), 0o644))
	return &Repo{
		URL:      url,
		CacheDir: filepath.Join(dir, "cache"),
		Env:      []string{"GIT_CONFIG_GLOBAL=" + config, "HOME=" + dir},
	}
}

// clone is the working clone inside a Repo's cache.
func clone(r *Repo) string { return filepath.Join(r.CacheDir, "clone") }

// requireClean asserts that the cache holds no merge or revert in progress
// and no modified or untracked file.
func requireClean(t *testing.T, r *Repo) {
	t.Helper()
	require.Empty(t, scmtest.Git(t, clone(r), "status", "--porcelain", "--untracked-files=all", "--ignored"))
	for _, state := range []string{"MERGE_HEAD", "REVERT_HEAD", "CHERRY_PICK_HEAD"} {
		require.NoFileExists(t, filepath.Join(clone(r), ".git", state))
	}
}

// seed makes a remote with production and a test branch two commits ahead,
// the shape of a config repo mid-cycle.
func seed(t *testing.T) *scmtest.Remote {
	t.Helper()
	remote := scmtest.NewRemote(t)
	remote.Commit("production", "initial config", map[string]string{
		"hosts.yaml": "hosts:\n  - node1\n",
		"conf.yaml":  "release: 1\n",
	})
	remote.Branch("test", "production")
	remote.Commit("test", "add node2", map[string]string{"hosts.yaml": "hosts:\n  - node1\n  - node2\n"})
	remote.Commit("test", "release 2", map[string]string{"conf.yaml": "release: 2\n"})
	return remote
}
