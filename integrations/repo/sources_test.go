package repo

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSourceLog(t *testing.T) {
	s := newStore(t)
	log, err := s.SourceLog("site")
	require.NoError(t, err)
	require.Empty(t, log, "a journal that was never written is empty")

	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	e1 := SourceEntry{Time: at, Action: SourceAdded, Source: "https://v/dl/", URL: "https://v/dl/a-1.rpm", SHA256: "aa", NEVRA: "a-1-1.noarch", Key: "k1"}
	e2 := SourceEntry{Action: SourceBypass, Source: "https://v/el9/", URL: "https://v/el9/b.rpm", SHA256: "bb", Bypass: "bypass-site-x", Key: "k2"}
	require.NoError(t, s.RecordSources(t.Context(), "site", []SourceEntry{e1}))
	require.NoError(t, s.RecordSources(t.Context(), "site", []SourceEntry{e2}))
	log, err = s.SourceLog("site")
	require.NoError(t, err)
	require.Len(t, log, 2)
	require.Equal(t, e1, log[0])
	require.False(t, log[1].Time.IsZero(), "an entry gets the time it was written")
	log[1].Time = time.Time{}
	require.Equal(t, e2, log[1])

	require.FileExists(t, filepath.Join(s.Root(), "overlays", ".site.sources.log"), "a dot file: no repo name starts with a dot")
	list, err := s.OverlayList("site")
	require.NoError(t, err)
	require.Empty(t, list, "the journal is not an overlay RPM")

	_, err = s.SourceLog("../x")
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorIs(t, s.RecordSources(t.Context(), "../x", nil), ErrInvalid)
}
