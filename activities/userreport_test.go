package activities

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/tickets"
)

func TestUserTrackerFollowsTheConfiguration(t *testing.T) {
	main, own := t.TempDir(), t.TempDir()
	for _, tc := range []struct {
		name   string
		users  *config.UserTickets
		want   any
		labels []string
		err    string
	}{
		{"label on the main tracker", &config.UserTickets{Label: "production-user"}, &tickets.FileTracker{Dir: main}, []string{"production-user"}, ""},
		{"own directory", &config.UserTickets{Dir: own}, &tickets.FileTracker{Dir: own}, nil, ""},
		{"own GitHub repo", &config.UserTickets{GitHub: &config.GitHubTickets{Repo: "hpc/user-issues", Label: "users"}}, &tickets.GitHub{}, nil, ""},
		{"none", nil, nil, nil, "production.userTickets is not configured in /etc/osflow.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{Path: "/etc/osflow.yaml", Tickets: config.Tickets{Dir: main}}
			cfg.Production.UserTickets = tc.users
			tr, labels, err := UserTracker(cfg)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.IsType(t, tc.want, tr)
			if ft, ok := tc.want.(*tickets.FileTracker); ok {
				require.Equal(t, ft.Dir, tr.(*tickets.FileTracker).Dir)
			}
			require.Equal(t, tc.labels, labels)
		})
	}
}

func TestFileUserReportIsOneTicketPerReport(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{Tickets: config.Tickets{Dir: dir}}
	cfg.Production.UserTickets = &config.UserTickets{Label: "production-user"}
	r := UserReport{Title: "mpirun hangs", Text: "on cn042", Reporter: "carol", Package: "openmpi", Node: "cn042"}
	first, err := FileUserReport(t.Context(), cfg, r)
	require.NoError(t, err)
	again, err := FileUserReport(t.Context(), cfg, r)
	require.NoError(t, err)
	require.Equal(t, first.ID, again.ID, "a retried report is the same ticket")
	r.Text = "on cn043 too"
	other, err := FileUserReport(t.Context(), cfg, r)
	require.NoError(t, err)
	require.NotEqual(t, first.ID, other.ID)
	open, err := (&tickets.FileTracker{Dir: dir}).ListOpen(t.Context(), "production-user")
	require.NoError(t, err)
	require.Len(t, open, 2)
	b, err := os.ReadFile(filepath.Join(dir, first.ID+".md"))
	require.NoError(t, err)
	require.Contains(t, string(b), "- package: `openmpi`")
}
