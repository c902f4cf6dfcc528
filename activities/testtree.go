package activities

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/ci"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// treeinfoTimeout bounds reading a tree's .treeinfo from the channel.
const treeinfoTimeout = time.Minute

// expandTrees replaces each distribution tree among t's repos with its
// variant repositories, as the channel serves them, so that suites test
// the variants (repoclosure, installs) and not the tree's root, which has
// no repodata/ unless a variant sits there. A variant at the root keeps
// the repo's name; the others are named <repo>-<variant UID>. The
// .treeinfo is read from the channel, the one the suite tests: the test
// worker may have no store.
func expandTrees(ctx context.Context, t *ci.Target, repos []config.Repo) error {
	client := &http.Client{Timeout: treeinfoTimeout}
	var out []string
	for _, r := range repos {
		if r.Kind != config.RepoKindTree && r.Kind != config.RepoKindAuto {
			out = append(out, r.Name)
			continue
		}
		variants, found, err := channelTreeVariants(ctx, client, t.RepoURL(r.Name))
		if err != nil {
			return fmt.Errorf("repo %s on channel %s: %w", r.Name, t.Channel, err)
		}
		if !found {
			out = append(out, r.Name)
			continue
		}
		for _, v := range variants {
			id := repo.VariantRepo(r.Name, v.UID, v.Repository)
			if id == r.Name {
				out = append(out, id)
				continue
			}
			if t.Paths == nil {
				t.Paths = map[string]string{}
			}
			t.Paths[id] = r.Name + "/" + v.Repository
			out = append(out, id)
		}
	}
	t.Repos = out
	return nil
}

// channelTreeVariants reads the .treeinfo at base, a repo of a channel, and
// returns its variant repositories, once per path; found is false when the
// repo has no .treeinfo (kind auto, a plain repository).
func channelTreeVariants(ctx context.Context, client *http.Client, base string) ([]rpmmd.TreeVariant, bool, error) {
	where := base + rpmmd.TreeinfoPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, false, nil
	case resp.StatusCode != http.StatusOK:
		return nil, false, fmt.Errorf("GET %s: HTTP %s", where, resp.Status)
	}
	ti, err := rpmmd.ParseTreeinfo(resp.Body, rpmmd.Limits{})
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", where, err)
	}
	var out []rpmmd.TreeVariant
	seen := map[string]bool{}
	for _, v := range ti.Variants {
		if !seen[v.Repository] {
			seen[v.Repository] = true
			out = append(out, v)
		}
	}
	return out, true, nil
}
