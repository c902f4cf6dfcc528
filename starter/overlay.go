package starter

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/workflows"
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
	cmd.AddCommand(a.overlayRetryCommand())
	return cmd
}

// retryOutcome is what `osflow overlay retry` did.
type retryOutcome struct {
	Overlay string                 `json:"overlay"`
	Retried []activities.HeldBuild `json:"retried"`
	// Already were offered again by an earlier retry, not checked since.
	Already []activities.HeldBuild `json:"already,omitempty"`
	// Running are held by a bypass that still runs, with why.
	Running []string `json:"running,omitempty"`
}

func (a *app) overlayRetryCommand() *cobra.Command {
	var source string
	cmd := &cobra.Command{
		Use:   "retry OVERLAY [FILE|NEVRA]",
		Short: "Offer a watched build again whose bypass failed, was rejected or refused",
		Long: `A watched vendor source's build that a bypass was started with is never
offered again by later checks, so that no second bypass starts for it.
When that bypass failed, was rejected or its checks refused the build,
retry marks the build (all such builds of the overlay, or those of --source,
or the one named by file name or NEVRA) to be offered again at the next
check, which starts a new bypass with it. It is recorded in the overlay's
source journal; asking twice records it once. A build whose bypass still
runs is not retried: approve or reject that bypass first.
` + "`osflow status`" + ` lists the held builds and why each is held.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			// A mistyped name is refused before Temporal is dialled.
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := checkRetry(cfg, args[0], source); err != nil {
				return err
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, cfg *config.Config, c client.Client) error {
				return a.retryHeld(ctx, cfg, c, args, source)
			})
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "only the builds from this source (its url, as configured)")
	return cmd
}

// checkRetry refuses an overlay without sources, or a source it does not
// have.
func checkRetry(cfg *config.Config, overlay, source string) error {
	rc, ok := cfg.Repo(overlay)
	if !ok || !rc.Overlay || len(rc.Sources) == 0 {
		return UsageError{fmt.Errorf("%s: no overlay repo named %q with sources (repos[].sources)", cfg.Path, overlay)}
	}
	if _, ok := rc.Source(source); source != "" && !ok {
		var urls []string
		for _, s := range rc.Sources {
			urls = append(urls, s.URL)
		}
		return UsageError{fmt.Errorf("%s: overlay %s has no source %q; its sources: %s", cfg.Path, overlay, source, strings.Join(urls, ", "))}
	}
	return nil
}

func (a *app) retryHeld(ctx context.Context, cfg *config.Config, c client.Client, args []string, source string) error {
	overlay := args[0]
	if err := checkRetry(cfg, overlay, source); err != nil {
		return err
	}
	st, err := a.openStore(cfg)
	if err != nil {
		return err
	}
	log, err := st.SourceLog(overlay)
	if err != nil {
		return err
	}
	match := func(b activities.HeldBuild) bool {
		return (source == "" || b.Source == source) && (len(args) < 2 || b.Matches(args[1]))
	}
	held, retried := activities.HeldBuilds(log)
	out := retryOutcome{Overlay: overlay, Retried: []activities.HeldBuild{}}
	for _, b := range retried {
		if match(b) {
			out.Already = append(out.Already, b)
		}
	}
	var names []string
	for _, b := range held {
		why, retry, done := heldBypass(ctx, c, b.Bypass)
		switch {
		case done:
			continue // on production
		case !match(b):
			names = append(names, b.NEVRA)
		case retry:
			out.Retried = append(out.Retried, b)
		default:
			out.Running = append(out.Running, b.NEVRA+": "+why)
		}
	}
	if len(out.Retried)+len(out.Already)+len(out.Running) == 0 {
		what := "no build"
		if len(args) > 1 {
			what = fmt.Sprintf("no build named %q", args[1])
		}
		if source != "" {
			what += " from " + source
		}
		held := "none is held"
		if len(names) > 0 {
			held = "held: " + strings.Join(names, ", ")
		}
		return UsageError{fmt.Errorf("overlay %s: %s is held by a failed, rejected or refused bypass (%s; see osflow status)", overlay, what, held)}
	}
	if err := activities.RetryHeld(ctx, st, overlay, out.Retried); err != nil {
		return err
	}
	if a.jsonOut {
		if err := printJSON(a.stdout, out); err != nil {
			return err
		}
	} else {
		for _, b := range out.Retried {
			fmt.Fprintf(a.stdout, "%s from %s: offered again at the next check (bypass %s did not bring it)\n", b.NEVRA, b.Source, b.Bypass)
		}
		for _, b := range out.Already {
			fmt.Fprintf(a.stdout, "%s from %s: already offered again at the next check\n", b.NEVRA, b.Source)
		}
		for _, r := range out.Running {
			fmt.Fprintf(a.stdout, "not retried: %s\n", r)
		}
		if len(out.Retried)+len(out.Already) > 0 {
			fmt.Fprintf(a.stdout, "next: `temporal schedule trigger --schedule-id %s` checks at once\n", workflows.OverlayWatchScheduleID(overlay))
		}
	}
	if len(out.Retried)+len(out.Already) == 0 {
		return fmt.Errorf("overlay %s: nothing retried: each build's bypass still runs", overlay)
	}
	return nil
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
