package starter

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
)

func (a *app) overlayCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "overlay", Short: "Manage site overlay repositories (site-built and replacement RPMs)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "add REPO FILE.rpm...",
		Short: "Check RPMs and place them in an overlay for the next sync",
		Long:  "Every file is checked first; if one is not a readable RPM, nothing is added.",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withOverlay(args[0], func(st *repo.Store) error {
				added, err := st.OverlayAdd(cmd.Context(), args[0], args[1:])
				if err != nil {
					return usageIfInvalid(err)
				}
				if a.jsonOut {
					return printJSON(a.stdout, map[string]any{"repo": args[0], "added": added})
				}
				for _, n := range added {
					fmt.Fprintf(a.stdout, "added %s to overlay %s\n", n, args[0])
				}
				_, err = fmt.Fprintln(a.stdout, "next: `osflow sync --wait` publishes it to daily and testing")
				return err
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "list REPO",
		Short: "List the RPMs in an overlay",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return a.withOverlay(args[0], func(st *repo.Store) error {
				rpms, err := st.OverlayList(args[0])
				if err != nil {
					return usageIfInvalid(err)
				}
				if a.jsonOut {
					if rpms == nil {
						rpms = []repo.OverlayRPM{} // scripts expect a list, even an empty one
					}
					return printJSON(a.stdout, rpms)
				}
				if len(rpms) == 0 {
					_, err := fmt.Fprintf(a.stdout, "overlay %s is empty; add RPMs with `osflow overlay add %s FILE.rpm`\n", args[0], args[0])
					return err
				}
				for _, r := range rpms {
					fmt.Fprintf(a.stdout, "%-50s %10s  %s\n", r.NEVRA, humanBytes(r.Size), r.ModTime.Local().Format("2006-01-02 15:04"))
				}
				return nil
			})
		},
	})
	return cmd
}

func (a *app) withOverlay(name string, fn func(*repo.Store) error) error {
	return a.withStore(func(cfg *config.Config, st *repo.Store) error {
		rc, ok := cfg.Repo(name)
		if !ok || !rc.Overlay {
			return UsageError{fmt.Errorf("%s: no overlay repo named %q (overlay repos have `overlay: true`)", cfg.Path, name)}
		}
		return fn(st)
	})
}
