package repo

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/internal/testtool"
)

func TestReadRPM(t *testing.T) {
	testtool.Need(t, "rpm")
	ctx := t.Context()
	rpm := buildRPM(t, "vendor-app", "2.1", "a")
	info, err := ReadRPM(ctx, rpm)
	require.NoError(t, err)
	require.Equal(t, RPMInfo{Name: "vendor-app", Epoch: "0", Version: "2.1", Release: "1", Arch: "noarch"}, info)
	require.Equal(t, "vendor-app-2.1-1.noarch", info.NEVRA(), "the name OverlayAdd gives the file")
	require.Equal(t, "vendor-app-3:2.1-1.noarch", RPMInfo{Name: "vendor-app", Epoch: "3", Version: "2.1", Release: "1", Arch: "noarch"}.NEVRA())

	// Not an RPM: no lead, or a lead and garbage (rpm's own message).
	notRPM := filepath.Join(t.TempDir(), "index.html")
	require.NoError(t, os.WriteFile(notRPM, []byte("<html>moved</html>"), 0o644))
	_, err = ReadRPM(ctx, notRPM)
	require.ErrorIs(t, err, ErrInvalid)
	require.Contains(t, err.Error(), "no RPM lead")
	garbage := filepath.Join(t.TempDir(), "x.rpm")
	require.NoError(t, os.WriteFile(garbage, append([]byte{0xed, 0xab, 0xee, 0xdb}, make([]byte, 200)...), 0o644))
	_, err = ReadRPM(ctx, garbage)
	require.ErrorIs(t, err, ErrInvalid)
	require.Contains(t, err.Error(), "is not a readable RPM")
}

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
