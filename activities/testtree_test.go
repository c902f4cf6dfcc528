package activities

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/ci"
)

// treeinfoOf is a .treeinfo with the given variants (UID = repository).
func treeinfoOf(variants map[string]string) string {
	var b strings.Builder
	var uids []string
	for uid := range variants {
		uids = append(uids, uid)
	}
	b.WriteString("[header]\ntype = productmd.treeinfo\nversion = 1.2\n[release]\nname = T\nversion = 9\n")
	b.WriteString("[tree]\narch = x86_64\nplatforms = x86_64\nvariants = " + strings.Join(uids, ",") + "\n")
	for uid, repo := range variants {
		b.WriteString("[variant-" + uid + "]\nid = " + uid + "\nuid = " + uid + "\nname = " + uid + "\nrepository = " + repo + "\n")
	}
	return b.String()
}

func TestExpandTrees(t *testing.T) {
	files := map[string]string{
		"/testing/dvd/.treeinfo":  treeinfoOf(map[string]string{"BaseOS": "BaseOS", "AppStream": "AppStream"}),
		"/testing/os/.treeinfo":   treeinfoOf(map[string]string{"BaseOS": ".", "HA": "addons/HA"}),
		"/testing/epel/.treeinfo": "", // 404 below: kind auto, a plain repository
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body := files[r.URL.Path]; body != "" {
			w.Write([]byte(body))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	target := ci.Target{Channel: "testing", BaseURL: srv.URL + "/testing/"}
	repos := []config.Repo{
		{Name: "baseos"},
		{Name: "dvd", Kind: config.RepoKindTree},
		{Name: "os", Kind: config.RepoKindAuto},
		{Name: "epel", Kind: config.RepoKindAuto},
	}
	require.NoError(t, expandTrees(t.Context(), &target, repos))
	require.Equal(t, []string{"baseos", "dvd-AppStream", "dvd-BaseOS", "os", "os-HA", "epel"}, target.Repos)
	urls := map[string]string{}
	for _, r := range target.Repos {
		urls[r] = strings.TrimPrefix(target.RepoURL(r), srv.URL)
	}
	require.Equal(t, map[string]string{
		"baseos": "/testing/baseos/", "dvd-AppStream": "/testing/dvd/AppStream/", "dvd-BaseOS": "/testing/dvd/BaseOS/",
		"os": "/testing/os/", "os-HA": "/testing/os/addons/HA/", "epel": "/testing/epel/",
	}, urls)

	files["/testing/dvd/.treeinfo"] = "[header]\nversion = 7\n"
	target.Repos, target.Paths = nil, nil
	err := expandTrees(t.Context(), &target, repos)
	require.ErrorContains(t, err, "repo dvd on channel testing: "+srv.URL+"/testing/dvd/.treeinfo")
}
