package starter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/workflows"
)

func (a *app) bypassCommand() *cobra.Command {
	var (
		urls, sums     []string
		reason, as     string
		wait, downgrde bool
	)
	cmd := &cobra.Command{
		Use:   "bypass OVERLAY [FILE.rpm...] [--url URL --sha256 SUM]... --reason TEXT",
		Short: "Emergency: put packages into an overlay and onto testing and production at once",
		Long: `Runs the Bypass workflow: the packages (local files, which this command stages
in the store, so it runs on the store host; or URLs, each with its SHA-256)
are checked against the overlay's bypass policy (bypass.allow, signatures,
no downgrade), added to the overlay, and put on testing and then production,
audited with the reason; dnf checks both channels; a ticket is filed; the
test cycle and any waiting promotion are told. With the overlay's
bypass.requireApproval it waits for an approver (osflow approve BYPASS-ID).
With --wait, shows each step with its time and exits 1 if the bypass failed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return UsageError{errors.New("--reason is required: it goes into both channels' audit logs and the ticket")}
			}
			if len(urls) != len(sums) {
				return UsageError{fmt.Errorf("give one --sha256 per --url (%d URLs, %d checksums)", len(urls), len(sums))}
			}
			if len(args) == 1 && len(urls) == 0 {
				return UsageError{errors.New("no packages: give RPM files or --url URL --sha256 SUM")}
			}
			if as == "" {
				as = actor()
			}
			if err := checkOperator(as); err != nil {
				return err
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, cfg *config.Config, c client.Client) error {
				in := workflows.BypassInput{Overlay: args[0], Reason: reason, Actor: "cli/" + as, AllowDowngrade: downgrde}
				if len(args) > 1 {
					staged, err := stageFiles(cfg, args[1:])
					if err != nil {
						return err
					}
					for _, p := range staged {
						in.Packages = append(in.Packages, workflows.BypassPackage{Path: p})
					}
				}
				for i, u := range urls {
					in.Packages = append(in.Packages, workflows.BypassPackage{URL: u, SHA256: strings.ToLower(sums[i])})
				}
				run, err := StartBypass(ctx, c, cfg, in)
				if err != nil {
					return err
				}
				if !wait {
					return a.answer(map[string]string{"workflowId": run.GetID(), "runId": run.GetRunID()},
						"started %s\nfollow it with `osflow status` or in the Web UI", run.GetID())
				}
				return a.waitBypass(ctx, c, cfg, run)
			})
		},
	}
	cmd.Flags().StringArrayVar(&urls, "url", nil, "URL of an RPM to download (repeatable; each with a --sha256)")
	cmd.Flags().StringArrayVar(&sums, "sha256", nil, "SHA-256 of the --url at the same position")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required): the advisory, the CVE")
	cmd.Flags().StringVar(&as, "as", "", "who (default: your login)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the bypass until it ends")
	cmd.Flags().BoolVar(&downgrde, "allow-downgrade", false, "let an older build than a channel has through")
	return cmd
}

// waitBypass follows a bypass to its end and reports it.
func (a *app) waitBypass(ctx context.Context, c client.Client, cfg *config.Config, run client.WorkflowRun) error {
	st, err := a.followBypass(ctx, c, cfg, run)
	if err != nil {
		return err
	}
	return a.answer(st, "%s done: %s on %s (ticket %s)", run.GetID(), strings.Join(nevrasOf(st), ", "), describeSwitches(st.Switches), orNone(st.Ticket.ID))
}

// describeSwitches says what a bypass did to each channel.
func describeSwitches(sws []activities.ChannelSwitch) string {
	if len(sws) == 0 {
		return "no channel"
	}
	var parts []string
	for _, sw := range sws {
		if sw.Changed {
			parts = append(parts, fmt.Sprintf("%s (%s -> %s)", sw.Channel, sw.From, sw.To))
		} else {
			parts = append(parts, fmt.Sprintf("%s (already served it: %s)", sw.Channel, sw.To))
		}
	}
	return strings.Join(parts, " and ")
}

// bypassOutcome says which channels a failed bypass moved, read from
// the channels' audit logs when the store is on this host (the workflow's
// status knows only what its last step reported), else from the status.
func bypassOutcome(cfg *config.Config, id string, st workflows.BypassStatus) string {
	var moved []activities.ChannelSwitch
	var store *repo.Store
	_, err := os.Stat(filepath.Join(cfg.Store, "channels"))
	if err == nil { // not on the store host: Open would make an empty store
		store, err = repo.Open(cfg.Store)
	}
	if err == nil {
		for _, ch := range []string{cfg.Channels.Testing, cfg.Channels.Production} {
			log, err := store.History(ch)
			if err != nil {
				store = nil
				break
			}
			for _, sw := range log {
				if strings.HasPrefix(sw.Key, id+"/") && sw.Moved() {
					moved = append(moved, activities.ChannelSwitch{Channel: ch, From: sw.From, To: sw.To, Changed: true})
				}
			}
		}
	}
	switch {
	case err == nil && store != nil && len(moved) > 0:
		return "the bypass did switch " + describeSwitches(moved) + " (channel logs); `osflow audit " + cfg.Channels.Production + "` shows it"
	case err == nil && store != nil:
		return "no channel was switched (channel logs)"
	case len(st.Switches) > 0:
		return "the bypass switched " + describeSwitches(st.Switches)
	default:
		return "no channel was changed unless a step above says so"
	}
}

// StartBypass starts the Bypass workflow.
func StartBypass(ctx context.Context, c client.Client, cfg *config.Config, in workflows.BypassInput) (client.WorkflowRun, error) {
	if err := needWorker(ctx, c, cfg, "osflow bypass", mainWorkflows(cfg), repoActivities(cfg)); err != nil {
		return nil, err
	}
	md := workflows.BypassMetadata(in)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.BypassWorkflowID(in.Overlay, time.Now()), TaskQueue: cfg.Temporal.TaskQueue,
		StaticSummary: md.Summary, StaticDetails: md.Details,
	}, workflows.BypassWorkflowType, in)
	if err != nil {
		return nil, fmt.Errorf("start the bypass of %s: %w", in.Overlay, err)
	}
	return run, nil
}

// stageFiles copies local RPMs into the store's staging area, where the
// repo worker on this host reads them.
func stageFiles(cfg *config.Config, files []string) ([]string, error) {
	st, err := repo.Open(cfg.Store)
	if err != nil {
		return nil, fmt.Errorf("stage the packages: the store %s is not here (run on the store host, or use --url): %w", cfg.Store, err)
	}
	dir, err := os.MkdirTemp(st.TempDir(), "bypass-cli-")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		dst := filepath.Join(dir, filepath.Base(f))
		if err := copyFile(f, dst); err != nil {
			return nil, UsageError{fmt.Errorf("stage %s: %w", f, err)}
		}
		out = append(out, dst)
	}
	return out, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// followBypass prints each step of a bypass as it ends, and returns its
// final status.
func (a *app) followBypass(ctx context.Context, c client.Client, cfg *config.Config, run client.WorkflowRun) (workflows.BypassStatus, error) {
	done := make(chan error, 1)
	var final workflows.BypassStatus
	go func() { done <- run.Get(ctx, &final) }()
	printed := 0
	show := func(st workflows.BypassStatus) {
		for ; printed < len(st.Steps) && st.Steps[printed].Status != "running"; printed++ {
			s := st.Steps[printed]
			if a.jsonOut {
				_ = printJSON(a.stdout, event{Time: time.Now().UTC(), Event: "step", Data: s})
				continue
			}
			fmt.Fprintf(a.stderr, "%-6s %-45s %8s  %s\n", s.Status, s.Name, s.Ended.Sub(s.Started).Round(time.Millisecond), s.Detail)
		}
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				var app *temporal.ApplicationError
				if errors.As(err, &app) {
					_ = app.Details(&final)
				}
				show(final)
				return final, fmt.Errorf("%s failed: %s\n%s", run.GetID(), orNone(final.Error), bypassOutcome(cfg, run.GetID(), final))
			}
			show(final)
			return final, nil
		case <-ctx.Done():
			return final, ctx.Err()
		case <-tick.C:
			if st, err := queryStatus[workflows.BypassStatus](ctx, c, run.GetID(), run.GetRunID()); err == nil {
				show(st)
			}
		}
	}
}

func nevrasOf(st workflows.BypassStatus) []string {
	var out []string
	for _, p := range st.Packages {
		out = append(out, p.NEVRA)
	}
	return out
}
