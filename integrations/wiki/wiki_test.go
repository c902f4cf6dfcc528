package wiki

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/scm"
	"github.com/osflow/osflow/integrations/scm/scmtest"
)

func newWiki(t *testing.T) (*Wiki, *scmtest.Remote) {
	t.Helper()
	remote := scmtest.NewRemote(t) // empty, as a wiki is before its first page
	return &Wiki{
		Repo:    &scm.Repo{URL: remote.URL(), CacheDir: filepath.Join(t.TempDir(), "cache")},
		BaseURL: "https://github.com/org/config/wiki/",
	}, remote
}

func TestPublish(t *testing.T) {
	t.Parallel()
	w, remote := newWiki(t)
	const notes = "# Release 20261125-ab\n\n- kernel 5.14.0-570\n"

	first, err := w.Publish(t.Context(), "Release 20261125-ab", notes, "")
	require.NoError(t, err)
	require.Equal(t, Published{
		Page:    "Release-20261125-ab",
		File:    "Release-20261125-ab.md",
		Commit:  remote.Tip(DefaultBranch),
		URL:     "https://github.com/org/config/wiki/Release-20261125-ab",
		Changed: true,
	}, first)
	require.Equal(t, notes, remote.Show(DefaultBranch, "Release-20261125-ab.md"))
	require.Equal(t, "<!-- osflow pages -->\n- [Release 20261125-ab](Release-20261125-ab)\n<!-- /osflow pages -->\n",
		remote.Show(DefaultBranch, "Home.md"))
	require.Equal(t, "Publish Release 20261125-ab", scmtest.Git(t, remote.Bare, "log", "-1", "--format=%s", DefaultBranch))

	t.Run("same content again commits nothing", func(t *testing.T) {
		again, err := w.Publish(t.Context(), "Release 20261125-ab", notes, "")
		require.NoError(t, err)
		require.False(t, again.Changed)
		require.Equal(t, first.Commit, again.Commit)
		require.Equal(t, first.Commit, remote.Tip(DefaultBranch))
	})

	t.Run("second page keeps hand-written text", func(t *testing.T) {
		home := "# Cluster wiki\n\nRead [the runbook](Runbook) first.\n\n" +
			remote.Show(DefaultBranch, "Home.md") + "\nMaintained by ops.\n"
		remote.Commit(DefaultBranch, "edit home", map[string]string{"Home.md": home})

		second, err := w.Publish(t.Context(), "Release 20261102-xy", "older\n", "Publish release notes")
		require.NoError(t, err)
		require.True(t, second.Changed)
		require.Equal(t, "# Cluster wiki\n\nRead [the runbook](Runbook) first.\n\n"+
			"<!-- osflow pages -->\n"+
			"- [Release 20261102-xy](Release-20261102-xy)\n"+
			"- [Release 20261125-ab](Release-20261125-ab)\n"+
			"<!-- /osflow pages -->\n"+
			"\nMaintained by ops.\n", remote.Show(DefaultBranch, "Home.md"))
		require.ElementsMatch(t, []string{"Home.md", "Release-20261102-xy.md", "Release-20261125-ab.md"}, remote.Files(DefaultBranch))
	})
}

func TestPublishOddTitle(t *testing.T) {
	t.Parallel()
	w, remote := newWiki(t)
	w.Branch = "main"
	const title = "Outage: nginx/httpd [TLS*] <1.3> ü \\ 100%?"
	p, err := w.Publish(t.Context(), title, "body\n", "")
	require.NoError(t, err)
	require.Equal(t, "Outage-nginxhttpd-TLS-1.3-ü-100", p.Page)
	require.Equal(t, "https://github.com/org/config/wiki/Outage-nginxhttpd-TLS-1.3-%C3%BC-100", p.URL)
	require.Equal(t, "body\n", remote.Show("main", p.File))
	require.Contains(t, remote.Show("main", "Home.md"),
		"- [Outage: nginx/httpd \\[TLS\\*\\] \\<1.3\\> ü \\\\ 100%?](Outage-nginxhttpd-TLS-1.3-ü-100)\n")

	// The escaped title reads back as the same title: no change.
	again, err := w.Publish(t.Context(), title, "body\n", "")
	require.NoError(t, err)
	require.False(t, again.Changed)
}

func TestPublishRefusesUnusableTitle(t *testing.T) {
	t.Parallel()
	w, remote := newWiki(t)
	for _, title := range []string{"", "???", "Home", " home ", "../.."} {
		_, err := w.Publish(t.Context(), title, "x", "")
		require.ErrorIs(t, err, scm.ErrInvalid, "%q", title)
	}
	require.Empty(t, remote.Tip(DefaultBranch))
}

func TestPageName(t *testing.T) {
	t.Parallel()
	tests := []struct{ title, want string }{
		{"Release 20261125-ab", "Release-20261125-ab"},
		{"Home", "Home"},
		{"a  b\tc", "a-b-c"},
		{"C++ & Go: a/b?", "C-Go-ab"},
		{"Release 1.2", "Release-1.2"},
		{"../../etc/passwd", "etcpasswd"},
		{"_Sidebar", "Sidebar"},
		{".hidden", "hidden"},
		{" - trailing - ", "trailing"},
		{"Überblick 2026", "Überblick-2026"},
		{"snake_case", "snake_case"},
		{"???", ""},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, PageName(tt.title), "%q", tt.title)
		require.Equal(t, tt.want, PageName(tt.want), "idempotent")
	}
	long := PageName(strings.Repeat("ü", 300)) // 2 bytes each: cut at a rune boundary
	require.Equal(t, strings.Repeat("ü", maxPageName/2), long)
}

func TestLinkPage(t *testing.T) {
	t.Parallel()
	section := func(lines ...string) string {
		s := beginMarker + "\n"
		for _, l := range lines {
			s += l + "\n"
		}
		return s + endMarker
	}
	tests := []struct {
		name, home, title, page, want, err string
	}{
		{"no Home.md", "", "B", "B", section("- [B](B)") + "\n", ""},
		{"Home.md without section", "Welcome", "B", "B", "Welcome\n\n" + section("- [B](B)") + "\n", ""},
		{"sorted by title", section("- [C](C)", "- [A](A)"), "B", "B", section("- [A](A)", "- [B](B)", "- [C](C)"), ""},
		{"same page, new title", section("- [Old title](B)"), "B", "B", section("- [B](B)"), ""},
		{"foreign lines in section dropped", section("- [A](A)", "junk", "- [x](https://example.org)"), "B", "B", section("- [A](A)", "- [B](B)"), ""},
		{"text around kept", "top\n" + section() + "\nbottom\n", "B", "B", "top\n" + section("- [B](B)") + "\nbottom\n", ""},
		{"end marker missing", beginMarker + "\n- [A](A)\nnotes\n", "B", "B", "", "not a pair"},
		{"markers reversed", endMarker + "\n" + beginMarker, "B", "B", "", "not a pair"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var home []byte
			if tt.home != "" {
				home = []byte(tt.home)
			}
			got, err := linkPage(home, tt.title, tt.page)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
		})
	}
}
