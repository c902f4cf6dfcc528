package tickets

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The conformance suite: behaviours every Tracker must show, run against
// each implementation through a constructor.

// harness is one fresh, empty tracker plus the test's window into it.
type harness struct {
	tr        Tracker
	comments  func(t *testing.T, id string) []string // comment bodies, oldest first
	unknownID string                                 // well-formed, but no such ticket
}

var trackers = []struct {
	name string
	new  func(t *testing.T) harness
}{
	{"file", func(t *testing.T) harness {
		ft := &FileTracker{Dir: filepath.Join(t.TempDir(), "tickets")} // created on first write
		return harness{
			tr: ft,
			comments: func(t *testing.T, id string) []string {
				d, err := readTicketDoc(filepath.Join(ft.Dir, id+".md"))
				require.NoError(t, err)
				return d.comments()
			},
			unknownID: "OSF-999",
		}
	}},
	{"github", func(t *testing.T) harness {
		fake := newFakeGitHub(t, "acme", "ops", testToken)
		g := newTestGitHub(t, fake, "ops")
		g.perPage = 2 // every listing below crosses pages
		return harness{
			tr: g,
			comments: func(t *testing.T, id string) []string {
				n, err := strconv.Atoi(id)
				require.NoError(t, err)
				return fake.issue(n).Comments
			},
			unknownID: "999",
		}
	}},
}

func nt(fp string, labels ...string) NewTicket {
	return NewTicket{Fingerprint: fp, Title: "failure " + fp, Body: "first seen on testing\n\n```\nlog\n```", Labels: labels}
}

// requireNothingOpen checks that no open ticket carries fp and that none
// is open at all.
func requireNothingOpen(t *testing.T, h harness, fp string) {
	t.Helper()
	found, err := h.tr.FindOpen(t.Context(), fp)
	require.NoError(t, err)
	require.Nil(t, found)
	open, err := h.tr.ListOpen(t.Context())
	require.NoError(t, err)
	require.Empty(t, open)
}

var behaviours = []struct {
	name string
	run  func(t *testing.T, h harness)
}{
	{"markers record which operation wrote a body or a comment", func(t *testing.T, h harness) {
		tk := nt("repoclosure/baseos")
		tk.Body = WithMarker(tk.Body, "run-1/round-1/tickets")
		created, err := h.tr.Create(t.Context(), tk)
		require.NoError(t, err)
		for _, key := range []string{"run-1/round-1/tickets", "run-1/round-2/tickets", "run-1/round-1"} {
			has, err := h.tr.HasMarker(t.Context(), created.ID, key)
			require.NoError(t, err)
			require.Equal(t, key == "run-1/round-1/tickets", has, "key %s", key)
		}
		// Several comments, so the GitHub listing crosses pages.
		for i := range 3 {
			require.NoError(t, h.tr.Comment(t.Context(), created.ID, WithMarker("still failing", "run-1/round-2/"+strconv.Itoa(i))))
		}
		has, err := h.tr.HasMarker(t.Context(), created.ID, "run-1/round-2/2")
		require.NoError(t, err)
		require.True(t, has, "found in the last comment")
		has, err = h.tr.HasMarker(t.Context(), created.ID, "run-1/round-2/3")
		require.NoError(t, err)
		require.False(t, has)
		_, err = h.tr.HasMarker(t.Context(), h.unknownID, "k")
		require.ErrorIs(t, err, ErrNotFound)
		require.NotContains(t, strings.Join(h.comments(t, created.ID), "\n"), "-->\n<!--", "one marker per comment")
	}},
	{"an empty tracker finds and lists nothing", func(t *testing.T, h harness) {
		requireNothingOpen(t, h, "repoclosure/baseos")
	}},
	{"create then find returns the same ticket", func(t *testing.T, h harness) {
		tk, err := h.tr.Create(t.Context(), nt("repoclosure/baseos", "testing", "baseos"))
		require.NoError(t, err)
		require.NotEmpty(t, tk.ID)
		require.Equal(t, "repoclosure/baseos", tk.Fingerprint)
		require.Equal(t, "failure repoclosure/baseos", tk.Title)
		require.Equal(t, StateOpen, tk.State)
		require.Subset(t, tk.Labels, []string{"testing", "baseos"})
		require.NotEmpty(t, tk.URL)
		require.False(t, tk.Created.IsZero())

		found, err := h.tr.FindOpen(t.Context(), "repoclosure/baseos")
		require.NoError(t, err)
		require.NotNil(t, found)
		require.Equal(t, tk, *found)
	}},
	{"fingerprints match exactly", func(t *testing.T, h harness) {
		_, err := h.tr.Create(t.Context(), nt("suite/a"))
		require.NoError(t, err)
		for _, other := range []string{"suite/a2", "suite/", "Suite/a", "suite/a/b"} {
			found, err := h.tr.FindOpen(t.Context(), other)
			require.NoError(t, err)
			require.Nil(t, found, other)
		}
	}},
	{"create is idempotent per open fingerprint", func(t *testing.T, h harness) {
		first, err := h.tr.Create(t.Context(), nt("install/kernel"))
		require.NoError(t, err)
		again, err := h.tr.Create(t.Context(), nt("install/kernel"))
		require.NoError(t, err)
		require.Equal(t, first, again)
		open, err := h.tr.ListOpen(t.Context())
		require.NoError(t, err)
		require.Len(t, open, 1)
	}},
	{"file or comment files once, then comments", func(t *testing.T, h harness) {
		tk, created, err := FileOrComment(t.Context(), h.tr, nt("install/kernel"), "seen on cycle 1")
		require.NoError(t, err)
		require.True(t, created)
		again, created, err := FileOrComment(t.Context(), h.tr, nt("install/kernel"), "seen on cycle 2")
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, tk.ID, again.ID)
		require.Equal(t, []string{"seen on cycle 2"}, h.comments(t, tk.ID))
	}},
	{"comments are kept in order", func(t *testing.T, h harness) {
		tk, err := h.tr.Create(t.Context(), nt("fp"))
		require.NoError(t, err)
		for _, c := range []string{"one", "two\n\nwith a paragraph", "three"} {
			require.NoError(t, h.tr.Comment(t.Context(), tk.ID, c))
		}
		require.Equal(t, []string{"one", "two\n\nwith a paragraph", "three"}, h.comments(t, tk.ID))
	}},
	{"a closed ticket is no longer open, and its fingerprint files anew", func(t *testing.T, h harness) {
		tk, _, err := FileOrComment(t.Context(), h.tr, nt("fp"), "unused")
		require.NoError(t, err)
		require.NoError(t, h.tr.Close(t.Context(), tk.ID, "fixed in release 2026-05-02"))
		require.Equal(t, []string{"fixed in release 2026-05-02"}, h.comments(t, tk.ID))
		requireNothingOpen(t, h, "fp")

		again, created, err := FileOrComment(t.Context(), h.tr, nt("fp"), "back again")
		require.NoError(t, err)
		require.True(t, created)
		require.NotEqual(t, tk.ID, again.ID)
	}},
	{"closing twice is fine; an empty close comment adds none", func(t *testing.T, h harness) {
		tk, err := h.tr.Create(t.Context(), nt("fp"))
		require.NoError(t, err)
		require.NoError(t, h.tr.Close(t.Context(), tk.ID, ""))
		require.NoError(t, h.tr.Close(t.Context(), tk.ID, ""))
		require.Empty(t, h.comments(t, tk.ID))
		require.NoError(t, h.tr.Comment(t.Context(), tk.ID, "a closed ticket still takes comments"))
		require.Len(t, h.comments(t, tk.ID), 1)
	}},
	{"list open filters on all labels, case-insensitively, oldest first", func(t *testing.T, h harness) {
		var ids []string
		for _, n := range []NewTicket{nt("a", "testing", "baseos"), nt("b", "testing"), nt("c", "production"), nt("d", "testing", "appstream")} {
			tk, err := h.tr.Create(t.Context(), n)
			require.NoError(t, err)
			ids = append(ids, tk.ID)
		}
		require.NoError(t, h.tr.Close(t.Context(), ids[3], ""))
		for _, tt := range []struct {
			labels []string
			want   []string
		}{
			{nil, ids[:3]},
			{[]string{"testing"}, ids[:2]},
			{[]string{"testing", "BaseOS"}, ids[:1]},
			{[]string{"production"}, ids[2:3]},
			{[]string{"appstream"}, nil},
			{[]string{"nope"}, nil},
		} {
			open, err := h.tr.ListOpen(t.Context(), tt.labels...)
			require.NoError(t, err)
			var got []string
			for _, tk := range open {
				require.Equal(t, StateOpen, tk.State)
				got = append(got, tk.ID)
			}
			require.Equal(t, tt.want, got, "labels %q", tt.labels)
		}
	}},
	{"odd fingerprints round-trip", func(t *testing.T, h harness) {
		for _, fp := range []string{
			`repoclosure: "baseos" #1`, "ünïcödé/テスト", "a -- b", "'quoted'", "---", "[flow, seq]",
			"key: value", "tab\there", "<b>html</b>", strings.Repeat("long/", 40),
		} {
			tk, err := h.tr.Create(t.Context(), nt(fp))
			require.NoError(t, err, fp)
			require.Equal(t, fp, tk.Fingerprint)
			found, err := h.tr.FindOpen(t.Context(), fp)
			require.NoError(t, err, fp)
			require.NotNil(t, found, fp)
			require.Equal(t, tk.ID, found.ID, fp)
		}
	}},
	{"bad input is ErrInvalid", func(t *testing.T, h harness) {
		good := nt("fp", "ok")
		with := func(change func(*NewTicket)) NewTicket { n := good; change(&n); return n }
		for name, n := range map[string]NewTicket{
			"empty fingerprint":        with(func(n *NewTicket) { n.Fingerprint = "" }),
			"fingerprint with newline": with(func(n *NewTicket) { n.Fingerprint = "a\nb" }),
			"fingerprint with -->":     with(func(n *NewTicket) { n.Fingerprint = "a --> b" }),
			"fingerprint padded":       with(func(n *NewTicket) { n.Fingerprint = " fp" }),
			"empty title":              with(func(n *NewTicket) { n.Title = " " }),
			"two-line title":           with(func(n *NewTicket) { n.Title = "a\nb" }),
			"label with comma":         with(func(n *NewTicket) { n.Labels = []string{"a,b"} }),
			"empty label":              with(func(n *NewTicket) { n.Labels = []string{""} }),
			"label over 50":            with(func(n *NewTicket) { n.Labels = []string{strings.Repeat("x", 51)} }),
		} {
			_, err := h.tr.Create(t.Context(), n)
			require.ErrorIs(t, err, ErrInvalid, name)
			_, _, err = FileOrComment(t.Context(), h.tr, n, "comment")
			require.ErrorIs(t, err, ErrInvalid, name)
		}
		_, _, err := FileOrComment(t.Context(), h.tr, good, " ")
		require.ErrorIs(t, err, ErrInvalid, "empty comment")
		_, err = h.tr.FindOpen(t.Context(), "")
		require.ErrorIs(t, err, ErrInvalid)
		_, err = h.tr.ListOpen(t.Context(), "a,b")
		require.ErrorIs(t, err, ErrInvalid)

		tk, err := h.tr.Create(t.Context(), good)
		require.NoError(t, err)
		require.ErrorIs(t, h.tr.Comment(t.Context(), tk.ID, "\n"), ErrInvalid)
		for _, id := range []string{"", "../../etc/passwd", "1/2", "-1", "0", "OSF-0", "x"} {
			require.ErrorIs(t, h.tr.Comment(t.Context(), id, "c"), ErrInvalid, id)
			require.ErrorIs(t, h.tr.Close(t.Context(), id, ""), ErrInvalid, id)
		}
		open, err := h.tr.ListOpen(t.Context())
		require.NoError(t, err)
		require.Len(t, open, 1, "nothing but the good ticket was filed")
	}},
	{"an unknown ticket is ErrNotFound", func(t *testing.T, h harness) {
		err := h.tr.Comment(t.Context(), h.unknownID, "c")
		require.ErrorIs(t, err, ErrNotFound)
		require.False(t, IsRetryable(err))
		require.ErrorIs(t, h.tr.Close(t.Context(), h.unknownID, ""), ErrNotFound)
	}},
}

func TestConformance(t *testing.T) {
	for _, tr := range trackers {
		t.Run(tr.name, func(t *testing.T) {
			for _, b := range behaviours {
				t.Run(b.name, func(t *testing.T) {
					t.Parallel()
					b.run(t, tr.new(t))
				})
			}
		})
	}
}
