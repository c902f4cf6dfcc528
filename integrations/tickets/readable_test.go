package tickets

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestListOpenReadableSkipsBrokenTicketFiles(t *testing.T) {
	ft := &FileTracker{Dir: t.TempDir()}
	first, err := ft.Create(t.Context(), nt("fp-1"))
	require.NoError(t, err)
	for name, content := range map[string]string{
		"OSF-2.md": "# no front matter\n",
		"OSF-3.md": "---\nid: OSF-9\nfingerprint: x\nstate: open\n---\n# t\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(ft.Dir, name), []byte(content), 0o644))
	}
	open, unreadable, err := ListOpenReadable(t.Context(), ft)
	require.NoError(t, err)
	require.Equal(t, []string{first.ID}, []string{open[0].ID})
	require.Len(t, open, 1)
	require.Len(t, unreadable, 2)
	require.Contains(t, unreadable[0], filepath.Join(ft.Dir, "OSF-2.md"))
	require.Contains(t, unreadable[1], filepath.Join(ft.Dir, "OSF-3.md"))
	require.Contains(t, unreadable[1], `front matter says id "OSF-9"`)

	// Writers still refuse: skipping could file a duplicate.
	_, err = ft.ListOpen(t.Context())
	require.ErrorContains(t, err, "OSF-2.md")
}
