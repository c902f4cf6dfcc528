package starter

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/workflows"
)

// TestSyncSummaryNamesMirrors: a repo read from a mirrorlist or metalink
// says which mirror it was read from and why the others were refused; a
// repo with only its url says nothing more.
func TestSyncSummaryNamesMirrors(t *testing.T) {
	var b strings.Builder
	printSyncSummary(&b, workflows.DailySyncStatus{Repos: []activities.RepoSync{
		{Repo: "epel-9", Snapshot: "s1", Packages: 2, Mirror: "https://good.example/epel/",
			Refused: []activities.RefusedMirror{{Mirror: "https://old.example/epel/", Reason: "stale mirror: it serves the older repomd.xml"}}},
		{Repo: "baseos", Snapshot: "s2", Packages: 1},
	}})
	require.Equal(t, "epel-9       snapshot s1, 2 packages: unchanged\n"+
		"             read from https://good.example/epel/\n"+
		"             refused https://old.example/epel/: stale mirror: it serves the older repomd.xml\n"+
		"baseos       snapshot s2, 1 packages: unchanged\n", b.String())
}
