package starter

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/integrations/tickets"
)

// reportCommand files a production user's problem into the users'
// tracker: the next promotion's risk report, its notification and
// `osflow status` list it.
func (a *app) reportCommand() *cobra.Command {
	var r activities.UserReport
	cmd := &cobra.Command{
		Use:   "report TITLE TEXT",
		Short: "Report a problem met on production (any user)",
		Long: `Files a ticket into production.userTickets (a label on the tracker, or a
tracker of their own). osflow status lists it at once; the next promotion's
risk report, its wiki page and its notification list it with the production
users' input. Sending the same report again finds its open ticket.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.Title, r.Text = args[0], args[1]
			if r.Reporter == "" {
				r.Reporter = actor()
			}
			if err := r.Check(); err != nil {
				return UsageError{err}
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if _, _, err := activities.UserTracker(cfg); err != nil {
				return UsageError{err}
			}
			t, err := activities.FileUserReport(cmd.Context(), cfg, r)
			if errors.Is(err, tickets.ErrInvalid) {
				return UsageError{err}
			}
			if err != nil {
				return err
			}
			return a.answer(t, "reported as %s: %s (%s)", t.ID, t.Title, t.URL)
		},
	}
	cmd.Flags().StringVar(&r.Reporter, "as", "", "who reports it (default: the login name)")
	cmd.Flags().StringVar(&r.Package, "package", "", "the package suspected, by name")
	cmd.Flags().StringVar(&r.Node, "node", "", "the node where it happened")
	return cmd
}
