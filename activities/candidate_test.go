package activities

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/tickets"
)

// shadowLine is a shadowed NEVRA as repo.Shadow renders it.
const shadowLine = "hpc-base-tools-1.3-1.noarch: overlay site (sha256 ab12ab12ab12…) shadows baseos (sha256 cd34cd34cd34…)"

func TestRenderCandidate(t *testing.T) {
	bypass := BypassNote{ID: "bypass-site-1", Time: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC), Overlay: "site",
		Packages: []string{"openssl-1:3.0.7-27.el9.x86_64", "openssl-libs-1:3.0.7-27.el9.x86_64"}, Actor: "osflow/watch-site", Reason: "new version"}
	for _, tc := range []struct {
		name      string
		c         Candidate
		want, not []string
	}{
		{name: "no bypass", c: Candidate{Release: "r2", Production: "production", Diff: DiffSummary{Upgraded: 2, Lines: []string{"[baseos] ^ a-1-1.noarch -> a-2-1.noarch"}},
			OpenTickets: []TicketRef{{ID: "OSF-3", Title: "suite/case fails"}}},
			want: []string{"# Release r2", "0 added, 0 removed, 2 upgraded", "[baseos] ^ a-1-1.noarch -> a-2-1.noarch", "## Open tickets (1)", "- OSF-3 suite/case fails"},
			not:  []string{"Emergency bypasses", "Same NEVRA"}},
		{name: "first promotion", c: Candidate{Release: "r1", Production: "production", Diff: DiffSummary{FromNothing: true, Added: 105,
			AddedRepos: []RepoCount{{Repo: "baseos", Packages: 80}, {Repo: "epel", Packages: 25}}}},
			want: []string{"First promotion: production serves nothing yet, so the release's whole content is new to it: 105 packages in 2 repos (baseos 80, epel 25)."},
			not:  []string{"0 removed"}},
		{name: "new and removed repos", c: Candidate{Release: "r2", Production: "production", Diff: DiffSummary{Added: 106, Removed: 3,
			AddedRepos: []RepoCount{{Repo: "a", Packages: 100}, {Repo: "b", Packages: 5}}, RemovedRepos: []RepoCount{{Repo: "old", Packages: 3}}}},
			want: []string{"106 added, 3 removed", "New repos (their packages counted as added): a 100, b 5.", "Removed repos (their packages counted as removed): old 3."}},
		{name: "bypasses since the last promotion", c: Candidate{Release: "r2", Production: "production", Diff: DiffSummary{Bypasses: []BypassNote{bypass}}},
			want: []string{"## Emergency bypasses since the last promotion",
				"- 2026-12-01 09:30Z `openssl-1:3.0.7-27.el9.x86_64`, `openssl-libs-1:3.0.7-27.el9.x86_64` into site by osflow/watch-site: new version (bypass-site-1)",
				"## Open tickets (0)\n\nNone."}},
		{name: "shadowed NEVRAs", c: Candidate{Release: "r2", Production: "production", Diff: DiffSummary{From: "production", To: "r2",
			Shadows: []string{shadowLine}, MoreShadows: 3}},
			want: []string{"## Same NEVRA, different builds\n\nRepos of r2 serve these packages as different builds",
				"`osflow repo files` gives overlays a lower dnf cost (500, mirrors 1000)", "- " + shadowLine + "\n",
				"- ... and 3 more (`osflow repo diff production r2` lists all)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requirePage(t, RenderCandidate(tc.c), tc.want, tc.not)
		})
	}
}

// requirePage checks that a rendered page says each of want and none of not.
func requirePage(t *testing.T, page string, want, not []string) {
	t.Helper()
	for _, w := range want {
		require.Contains(t, page, w)
	}
	for _, n := range not {
		require.NotContains(t, page, n)
	}
}

// Issue 16 #11: a wiki that refuses the worker's credentials failed the
// candidate with a plain error, retried for hours; a network error is
// still retried.
func TestAssembleClassifiesWikiErrors(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="wiki"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer refusing.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()
	for _, tt := range []struct {
		name, url    string
		nonRetryable bool
	}{
		{"credentials refused", refusing.URL + "/wiki.git", true},
		{"server down", goneURL + "/wiki.git", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := &CandidateActivities{Config: &config.Config{Wiki: config.Wiki{URL: tt.url, Branch: "master"}},
				Tracker: &tickets.FileTracker{Dir: t.TempDir()}, CacheDir: t.TempDir()}
			_, err := a.Assemble(t.Context(), CandidateInput{Release: "r1", Production: "production"})
			require.Error(t, err)
			require.Contains(t, err.Error(), "publish candidate page for r1")
			var app *temporal.ApplicationError
			require.Equal(t, tt.nonRetryable, errors.As(err, &app) && app.NonRetryable(), "%v", err)
		})
	}
}

// Issue 17 #4: one ticket file broken by hand failed the candidate's
// assembly with every retry; it is named on the page and skipped.
func TestAssembleSkipsUnreadableTicketFiles(t *testing.T) {
	dir := t.TempDir()
	tr := &tickets.FileTracker{Dir: dir}
	good, err := tr.Create(t.Context(), tickets.NewTicket{Fingerprint: "suite/case", Title: "case fails"})
	require.NoError(t, err)
	broken := filepath.Join(dir, "OSF-2.md")
	require.NoError(t, os.WriteFile(broken, []byte("# written by hand, no front matter\n"), 0o644))
	a := &CandidateActivities{Config: &config.Config{}, Tracker: tr, CacheDir: t.TempDir()}
	c, err := a.Assemble(t.Context(), CandidateInput{Release: "r1", Production: "production"})
	require.NoError(t, err)
	require.Equal(t, []TicketRef{{ID: good.ID, Title: good.Title, URL: good.URL}}, c.OpenTickets)
	require.Len(t, c.UnreadableTickets, 1)
	require.Contains(t, c.UnreadableTickets[0], broken)
	require.Contains(t, RenderCandidate(c), broken)
}
