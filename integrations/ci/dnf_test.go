package ci

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo/upstream"
)

// A channel served over HTTP, with real packages built by rpmbuild:
//
//	base:   base-lib, tool (requires base-lib)
//	extra:  app (requires base-lib >= 1.0, found only in base)
//	broken: broken (requires missing-dep >= 2, found nowhere)
var channel struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if channel.dir != "" {
		os.RemoveAll(channel.dir)
	}
	os.Exit(code)
}

// serveChannel builds the repos once per test binary and serves them;
// Target.BaseURL is the server's root.
func serveChannel(t *testing.T) string {
	t.Helper()
	channel.once.Do(func() {
		channel.dir, channel.err = os.MkdirTemp("", "osflow-ci-channel-")
		if channel.err != nil {
			return
		}
		channel.err = buildChannel(context.Background(), channel.dir)
	})
	require.NoError(t, channel.err)
	srv := httptest.NewServer(http.FileServer(http.Dir(channel.dir)))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

func buildChannel(ctx context.Context, dir string) error {
	repos := map[string][]upstream.Spec{
		"base":   {{Name: "base-lib"}, {Name: "tool", Requires: []string{"base-lib"}}},
		"extra":  {{Name: "app", Requires: []string{"base-lib >= 1.0"}}},
		"broken": {{Name: "broken", Version: "3.1", Requires: []string{"base-lib", "missing-dep >= 2"}}},
	}
	for name, specs := range repos {
		repoDir := filepath.Join(dir, name)
		if _, err := upstream.BuildSpecs(ctx, specs, repoDir); err != nil {
			return err
		}
		if err := upstream.Createrepo(ctx, repoDir); err != nil {
			return err
		}
	}
	return nil
}

func TestRepoclosure(t *testing.T) {
	base := serveChannel(t)
	tests := []struct {
		name  string
		repos []string
		want  []Case
	}{
		{
			// app's dependency is in another repo of the channel: the
			// closure is over all repos together.
			name:  "all resolve",
			repos: []string{"base", "extra"},
			want: []Case{
				{Suite: "repoclosure", Name: "base", Status: Passed},
				{Suite: "repoclosure", Name: "extra", Status: Passed},
			},
		},
		{
			name:  "missing dependency",
			repos: []string{"base", "extra", "broken"},
			want: []Case{
				{Suite: "repoclosure", Name: "base", Status: Passed},
				{Suite: "repoclosure", Name: "extra", Status: Passed},
				{Suite: "repoclosure", Name: "broken", Status: Failed, Message: "broken-3.1-1.noarch requires missing-dep >= 2"},
			},
		},
		{
			name:  "dependency in a repo outside the channel",
			repos: []string{"extra"},
			want: []Case{
				{Suite: "repoclosure", Name: "extra", Status: Failed, Message: "app-1.0-1.noarch requires base-lib >= 1.0"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Repoclosure{}.Run(t.Context(), Target{Channel: "testing", BaseURL: base, Repos: tt.repos})
			require.NoError(t, err)
			require.Equal(t, Result{Suite: "repoclosure", Cases: tt.want}, r)
		})
	}
}

func TestRepoclosureUnreachableRepoIsBroken(t *testing.T) {
	base := serveChannel(t)
	_, err := Repoclosure{SuiteName: "closure"}.Run(t.Context(), Target{Channel: "testing", BaseURL: base, Repos: []string{"base", "gone"}})
	require.ErrorIs(t, err, ErrBroken)
	require.ErrorContains(t, err, "suite closure")
	require.ErrorContains(t, err, base+"gone/repodata/repomd.xml")
}

func TestParseRepoclosure(t *testing.T) {
	out := `package: app-1.0-1.noarch from extra
  unresolved deps (2):
    base-lib >= 1.0
    libfoo.so.1()(64bit)
package: old-2-1.noarch from extra
  unresolved deps:
    gone
package: x-1-1.x86_64 from my repo from base
  unresolved deps (1):
    y
`
	got := parseRepoclosure(out)
	require.Equal(t, map[string][]unresolvedPkg{
		"extra": {
			{nevra: "app-1.0-1.noarch", deps: []string{"base-lib >= 1.0", "libfoo.so.1()(64bit)"}},
			{nevra: "old-2-1.noarch", deps: []string{"gone"}},
		},
		"base": {{nevra: "x-1-1.x86_64 from my repo", deps: []string{"y"}}},
	}, got)
	require.Equal(t, "app-1.0-1.noarch requires base-lib >= 1.0\napp-1.0-1.noarch requires libfoo.so.1()(64bit)\nold-2-1.noarch requires gone",
		formatUnresolved(got["extra"]))
}

func TestInstall(t *testing.T) {
	base := serveChannel(t)
	in := Install{Sets: map[string][]string{
		"tools":   {"tool"},
		"app":     {"app"}, // its dependency comes from the other repo
		"broken":  {"broken", "tool"},
		"missing": {"no-such-package"},
	}}
	r, err := in.Run(t.Context(), Target{Channel: "testing", BaseURL: base, Repos: []string{"base", "extra", "broken"}})
	require.NoError(t, err)
	require.Equal(t, "install", r.Suite)

	// Sets run in name order.
	status := map[string]Status{}
	var names []string
	for _, c := range r.Cases {
		require.Equal(t, "install", c.Suite)
		names = append(names, c.Name)
		status[c.Name] = c.Status
	}
	require.Equal(t, []string{"app", "broken", "missing", "tools"}, names)
	require.Equal(t, map[string]Status{"app": Passed, "broken": Failed, "missing": Failed, "tools": Passed}, status)
	require.Contains(t, r.Cases[1].Message, "nothing provides missing-dep >= 2 needed by broken-3.1-1.noarch")
	require.Contains(t, r.Cases[2].Message, "no-such-package")
	require.Empty(t, r.Cases[0].Message)
}

func TestInstallUnreachableChannelIsBroken(t *testing.T) {
	base := serveChannel(t)
	_, err := Install{Sets: map[string][]string{"tools": {"tool"}}}.Run(t.Context(), Target{Channel: "testing", BaseURL: base + "nowhere/", Repos: []string{"base"}})
	require.ErrorIs(t, err, ErrBroken)
	require.ErrorContains(t, err, "makecache")
	require.ErrorContains(t, err, base+"nowhere/base/repodata/repomd.xml")
}

func TestInstallConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		sets map[string][]string
		want string
	}{
		{"no sets", nil, "no package sets"},
		{"empty set", map[string][]string{"a": {}}, "no packages"},
		{"option as package", map[string][]string{"a": {"--nogpgcheck"}}, `bad package spec "--nogpgcheck"`},
		{"blank set name", map[string][]string{" ": {"tool"}}, "bad set name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Install{Sets: tt.sets}.Run(t.Context(), testTarget)
			require.ErrorIs(t, err, ErrConfig)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
