package starter

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReportFilesAUserTicketThatStatusLists(t *testing.T) {
	dir := t.TempDir()
	tickets := filepath.Join(dir, "tickets")
	p := writeConfig(t, dir, "tickets:\n  dir: "+tickets+"\nproduction:\n  approvers: [alice]\n  userTickets: {label: production-user}\n")

	out, stderr, code := run(t, "--config", p, "report", "mpirun hangs", "since this morning on two nodes", "--as", "carol", "--package", "openmpi", "--node", "cn042")
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "reported as OSF-1: openmpi: mpirun hangs")
	b, err := os.ReadFile(filepath.Join(tickets, "OSF-1.md"))
	require.NoError(t, err)
	require.Contains(t, string(b), "production-user")
	require.Contains(t, string(b), "Reported by **carol**")
	require.Contains(t, string(b), "- node: `cn042`")

	// The same report again (a retried command) is the same ticket.
	out, stderr, code = run(t, "--config", p, "report", "mpirun hangs", "since this morning on two nodes", "--as", "carol", "--package", "openmpi", "--node", "cn042")
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "reported as OSF-1:")

	// A hand-broken ticket file is named and skipped.
	require.NoError(t, os.WriteFile(filepath.Join(tickets, "OSF-2.md"), []byte("no front matter\n"), 0o644))
	out, _, _ = run(t, "--config", p, "status")
	require.Contains(t, out, "PRODUCTION USERS' REPORTS (1 open")
	require.Contains(t, out, "OSF-1 openmpi: mpirun hangs")
	require.Contains(t, out, "skipped, does not parse: ticket file "+filepath.Join(tickets, "OSF-2.md"))
}

func TestReportRefusesBadInputAndFilesNothing(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		args        []string
		want        string
	}{
		{"bad package", "production:\n  userTickets: {label: production-user}\n", []string{"t", "x", "--package", "open mpi"}, `package "open mpi" is not a package name`},
		{"bad node", "production:\n  userTickets: {label: production-user}\n", []string{"t", "x", "--node", "cn1;rm"}, `node "cn1;rm" is not a host name`},
		{"empty text", "production:\n  userTickets: {label: production-user}\n", []string{"t", " "}, "text is empty"},
		{"two-line title", "production:\n  userTickets: {label: production-user}\n", []string{"a\nb", "x"}, "not printable"},
		{"not configured", "", []string{"t", "x"}, "production.userTickets is not configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tickets := filepath.Join(dir, "tickets")
			p := writeConfig(t, dir, "tickets:\n  dir: "+tickets+"\n"+tc.extra)
			_, stderr, code := run(t, append([]string{"--config", p, "report", "--as", "carol"}, tc.args...)...)
			require.Equal(t, ExitUsage, code, stderr)
			require.Contains(t, stderr, tc.want)
			require.NoDirExists(t, tickets)
		})
	}
}
