package repo

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// modulesYAML is an AppStream-like modules.yaml: streams (name:stream
// version) and the default stream of nodejs.
func modulesYAML(nodejsDefault string, streams ...string) string {
	var b strings.Builder
	for _, s := range streams {
		name, rest, _ := strings.Cut(s, ":")
		stream, version, _ := strings.Cut(rest, " ")
		fmt.Fprintf(&b, "---\ndocument: modulemd\nversion: 2\ndata:\n  name: %s\n  stream: %q\n  version: %s\n  context: 6e6af3b0\n  arch: x86_64\n"+
			"  summary: %s\n  description: >-\n    %s runtime.\n  license:\n    module:\n    - MIT\n...\n", name, stream, version, name, name)
	}
	if nodejsDefault != "" {
		fmt.Fprintf(&b, "---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: nodejs\n  stream: %q\n  profiles:\n    %s: [common]\n...\n", nodejsDefault, nodejsDefault)
	}
	return b.String()
}

// TestReleaseModuleChanges covers a metadata-only release: no package
// changes, but the nodejs default moving from 8 to 10, a stream updated,
// added and removed, and a new advisory.
func TestReleaseModuleChanges(t *testing.T) {
	s := newStore(t)
	kernel := pkg("kernel", "0", "5.14.0", "1.el9", "x86_64", "k1")
	a := commit(t, s, "appstream", t0, repodataWith(t, map[string]string{
		"modules.yaml": modulesYAML("8", "nodejs:8 8010020190101", "nodejs:10 8020020200101", "perl:5.26 1"),
	}), kernel)
	ui := `<?xml version="1.0"?><updates><update type="security"><id>RHSA-2026:5</id><title>kernel</title><severity>Low</severity>` +
		`<pkglist><collection><package name="kernel" epoch="0" version="5.14.0" release="1.el9" arch="x86_64"/></collection></pkglist></update></updates>`
	b := commit(t, s, "appstream", t0.Add(time.Hour), repodataWith(t, map[string]string{
		"modules.yaml":   modulesYAML("10", "nodejs:8 8010020190101", "nodejs:10 8030020200716", "nodejs:12 8040020210101"),
		"updateinfo.xml": ui,
	}), kernel)
	ra := release(t, s, t0, map[string]string{"appstream": a.ID})
	rb := release(t, s, t0.Add(time.Hour), map[string]string{"appstream": b.ID})

	d, err := s.DiffReleases(ra.ID, rb.ID)
	require.NoError(t, err)
	require.True(t, d.Repos["appstream"].Empty(), "no package changes")
	got, err := s.ReleaseModuleChanges(d)
	require.NoError(t, err)
	var lines []string
	for _, c := range got {
		lines = append(lines, c.String())
	}
	require.Equal(t, []string{
		"[appstream] default stream of nodejs: 8 -> 10",
		"[appstream] ^ module nodejs:10 version 8020020200101 -> 8030020200716",
		"[appstream] + module nodejs:12 (version 8040020210101)",
		"[appstream] - module perl:5.26 (version 1)",
	}, lines)

	brought, err := s.ReleaseAdvisories(d)
	require.NoError(t, err)
	require.Empty(t, brought, "production has the kernel the new advisory names")
	published, err := s.PublishedAdvisories(d, brought)
	require.NoError(t, err)
	require.Len(t, published, 1)
	require.Equal(t, "RHSA-2026:5", published[0].ID)

	// A first release: every stream and default is new.
	first, err := s.DiffReleases("production", ra.ID)
	require.NoError(t, err)
	got, err = s.ReleaseModuleChanges(first)
	require.NoError(t, err)
	require.Len(t, got, 4)
	require.Equal(t, ModuleChange{Repo: "appstream", Module: "nodejs", Kind: "default", To: "8"}, got[0])

	bad := commit(t, s, "appstream", t0.Add(2*time.Hour), repodataWith(t, map[string]string{"modules.yaml": "---\ndocument: modulemd\ndata:\n  stream: x\n...\n"}))
	_, err = s.SnapshotModules("appstream", bad.ID)
	require.ErrorIs(t, err, ErrBadContent)
	require.ErrorContains(t, err, "without name or stream")
}
