package starter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
	"github.com/osflow/osflow/workflows"
)

func (a *app) repoCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repo",
		Short: "Inspect releases, diff them, roll a channel back, print .repo files",
		Long: `Read-only verbs (releases, diff, files) read the store directly and so run
on the host where the store is mounted. rollback goes through Temporal.`,
	}
	cmd.AddCommand(a.releasesCommand(), a.diffCommand(), a.rollbackCommand(), a.filesCommand(), a.gcCommand())
	return cmd
}

// withStore loads the configuration and opens its existing store.
func (a *app) withStore(fn func(*config.Config, *repo.Store) error) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	st, err := a.openStore(cfg)
	if err != nil {
		return err
	}
	return fn(cfg, st)
}

// ReleaseView is a release with the channels that serve it.
type ReleaseView struct {
	repo.Release
	Channels []string `json:"channels"`
}

func (a *app) releasesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "releases",
		Short: "List releases, newest first, with the channels serving each",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return a.withStore(func(_ *config.Config, st *repo.Store) error {
				views, err := Releases(st)
				if err != nil {
					return err
				}
				if a.jsonOut {
					return printJSON(a.stdout, views)
				}
				if len(views) == 0 {
					_, err := fmt.Fprintln(a.stdout, "no releases yet; run `osflow sync --wait`")
					return err
				}
				fmt.Fprintf(a.stdout, "%-22s %-17s %-22s %s\n", "RELEASE", "CREATED", "CHANNELS", "SNAPSHOTS")
				for _, v := range views {
					fmt.Fprintf(a.stdout, "%-22s %-17s %-22s %s\n", v.ID, v.CreatedAt.Local().Format("2006-01-02 15:04"),
						orNone(strings.Join(v.Channels, ",")), formatSnapshots(v.Repos))
				}
				return nil
			})
		},
	}
}

// Releases lists the store's releases with the channels that serve them.
func Releases(st *repo.Store) ([]ReleaseView, error) {
	rels, err := st.Releases()
	if err != nil {
		return nil, err
	}
	channels, err := st.Channels()
	if err != nil {
		return nil, err
	}
	views := make([]ReleaseView, 0, len(rels))
	for _, r := range rels {
		v := ReleaseView{Release: r, Channels: []string{}}
		for ch, id := range channels {
			if id == r.ID {
				v.Channels = append(v.Channels, ch)
			}
		}
		sort.Strings(v.Channels)
		views = append(views, v)
	}
	return views, nil
}

func formatSnapshots(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for r, s := range m {
		parts = append(parts, r+"="+s)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func (a *app) diffCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "diff A B",
		Short: "Show packages added, removed, upgraded, downgraded and rebuilt from A to B",
		Long:  "A and B are release IDs or channel names (a channel stands for the release it serves).",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			return a.withStore(func(cfg *config.Config, st *repo.Store) error {
				for _, ref := range args {
					if err := checkReleaseRef(st, cfg, ref); err != nil {
						return err
					}
				}
				d, err := st.DiffReleases(args[0], args[1])
				if err != nil {
					return usageIfInvalid(err)
				}
				var shadows []repo.Shadow
				var advisories []repo.Applicable
				if repo.CheckReleaseID(d.To) == nil { // not a channel that serves nothing yet
					if shadows, err = st.ReleaseShadows(d.To); err != nil {
						return err
					}
					if advisories, err = st.ReleaseAdvisories(d); err != nil {
						return err
					}
				}
				published, err := st.PublishedAdvisories(d, advisories)
				if err != nil {
					return err
				}
				modules, err := st.ReleaseModuleChanges(d)
				if err != nil {
					return err
				}
				if a.jsonOut {
					return printJSON(a.stdout, struct {
						repo.ReleaseDiff
						Advisories []repo.Applicable `json:",omitempty"`
						// Published: advisories new in updateinfo whose fix From has.
						Published []rpmmd.Advisory    `json:",omitempty"`
						Modules   []repo.ModuleChange `json:",omitempty"`
						Shadows   []repo.Shadow       `json:",omitempty"`
					}{d, advisories, published, modules, shadows})
				}
				PrintDiff(a.stdout, d)
				PrintMetadataChanges(a.stdout, d, advisories, published, modules)
				PrintShadows(a.stdout, d.To, shadows)
				return nil
			})
		},
	}
}

// PrintDiff writes a release diff for people: one line per package change.
// A repo whose snapshot changed with no package change is named too.
func PrintDiff(w io.Writer, d repo.ReleaseDiff) {
	fmt.Fprintf(w, "%s -> %s\n", d.From, d.To)
	for _, r := range d.AddedRepos {
		fmt.Fprintf(w, "+ repo %s\n", r)
	}
	for _, r := range d.RemovedRepos {
		fmt.Fprintf(w, "- repo %s\n", r)
	}
	names := make([]string, 0, len(d.Repos))
	for r := range d.Repos {
		names = append(names, r)
	}
	sort.Strings(names)
	for _, name := range names {
		sd := d.Repos[name]
		if sd.Empty() {
			fmt.Fprintf(w, "[%s] metadata changed, same packages\n", name)
			continue
		}
		fmt.Fprintf(w, "[%s] %d added, %d removed, %d upgraded, %d downgraded, %d rebuilt\n",
			name, len(sd.Added), len(sd.Removed), len(sd.Upgraded), len(sd.Downgraded), len(sd.Rebuilt))
		for _, p := range sd.Added {
			fmt.Fprintf(w, "  + %s\n", p.NEVRA())
		}
		for _, p := range sd.Removed {
			fmt.Fprintf(w, "  - %s\n", p.NEVRA())
		}
		for _, c := range sd.Upgraded {
			fmt.Fprintf(w, "  ^ %s -> %s\n", c.From.NEVRA(), c.To.NEVRA())
		}
		for _, c := range sd.Downgraded {
			fmt.Fprintf(w, "  v %s -> %s\n", c.From.NEVRA(), c.To.NEVRA())
		}
		for _, c := range sd.Rebuilt {
			fmt.Fprintf(w, "  ~ %s (rebuilt: %s -> %s)\n", c.To.NEVRA(), c.From.Checksum, c.To.Checksum)
		}
	}
	if len(d.Repos) == 0 {
		fmt.Fprintln(w, "no changes")
	}
}

// PrintMetadataChanges writes the advisories a diff brings, each with the
// packages that carry it, and the module streams and defaults it changes.
// Published advisories are those new in updateinfo whose fix d.From has.
func PrintMetadataChanges(w io.Writer, d repo.ReleaseDiff, advisories []repo.Applicable, published []rpmmd.Advisory, modules []repo.ModuleChange) {
	if len(advisories) > 0 {
		fmt.Fprintf(w, "advisories new to %s (%d):\n", d.From, len(advisories))
	}
	for _, a := range advisories {
		printAdvisory(w, a.Advisory, strings.Join(a.Repos, ","))
		for _, f := range a.Fixes {
			fmt.Fprintf(w, "    * %s\n", f)
		}
	}
	if len(published) > 0 {
		fmt.Fprintf(w, "advisories published whose fix %s has already (%d):\n", d.From, len(published))
	}
	for _, a := range published {
		printAdvisory(w, a, "")
	}
	if len(modules) > 0 {
		fmt.Fprintln(w, "module streams and defaults:")
	}
	for _, m := range modules {
		fmt.Fprintf(w, "  %s\n", m)
	}
}

func printAdvisory(w io.Writer, a rpmmd.Advisory, repos string) {
	fmt.Fprintf(w, "  %s (%s, %s", a.ID, a.Type, cmp.Or(a.Severity, "unrated"))
	if repos != "" {
		fmt.Fprintf(w, ", %s", repos)
	}
	fmt.Fprintf(w, ") %s\n", a.Title)
	if cves := a.CVEs(); len(cves) > 0 {
		fmt.Fprintf(w, "    %s\n", strings.Join(cves, " "))
	}
}

// PrintShadows writes the NEVRAs a release serves as different builds
// from different repos, which dnf tells apart only by repo cost.
func PrintShadows(w io.Writer, release string, shadows []repo.Shadow) {
	if len(shadows) == 0 {
		return
	}
	fmt.Fprintf(w, "%s serves these NEVRAs as different builds from different repos (nodes install the overlay's; `repo files` gives overlays cost=%d):\n",
		release, repo.OverlayCost)
	for _, sh := range shadows {
		fmt.Fprintf(w, "  ! %s\n", sh)
	}
}

func usageIfInvalid(err error) error {
	if errors.Is(err, repo.ErrInvalid) || errors.Is(err, repo.ErrNotFound) {
		return UsageError{err}
	}
	return err
}

func (a *app) rollbackCommand() *cobra.Command {
	var to, reason string
	cmd := &cobra.Command{
		Use:   "rollback CHANNEL",
		Short: "Point a channel back at a release it served before",
		Long: `Without --to, the channel goes back to the release it served before its
current one. The switch is atomic and recorded in the channel's audit log.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return UsageError{errors.New("--reason is required: it goes into the channel's audit log")}
			}
			// Checked here, before a workflow starts that could only fail.
			if err := repo.CheckChannelName(args[0]); err != nil {
				return UsageError{err}
			}
			if to != "" {
				if err := repo.CheckReleaseID(to); err != nil {
					return UsageError{fmt.Errorf("--to: %w", err)}
				}
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := checkChannel(cfg, args[0]); err != nil {
				return err
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, cfg *config.Config, c client.Client) error {
				if err := needWorker(ctx, c, cfg, "osflow repo rollback", mainWorkflows(cfg), repoActivities(cfg)); err != nil {
					return err
				}
				sw, err := Rollback(ctx, c, cfg, activities.RollbackInput{Channel: args[0], To: to, Actor: "cli/" + actor(), Reason: reason})
				if err != nil {
					return err
				}
				if a.jsonOut {
					return printJSON(a.stdout, sw)
				}
				if !sw.Changed {
					_, err = fmt.Fprintf(a.stdout, "channel %s already serves %s; nothing changed\n", sw.Channel, sw.To)
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "channel %s: %s -> %s\nclients pick it up at their next metadata refresh (dnf clean metadata to force)\n", sw.Channel, sw.From, sw.To)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "release to go back to (default: the one served before the current)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; recorded in the audit log)")
	return cmd
}

// Rollback runs the ChannelRollback workflow and waits for its result.
func Rollback(ctx context.Context, c client.Client, cfg *config.Config, in activities.RollbackInput) (activities.ChannelSwitch, error) {
	var sw activities.ChannelSwitch
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        workflows.RollbackWorkflowID(in.Channel, time.Now()),
		TaskQueue: cfg.Temporal.TaskQueue,
	}, workflows.ChannelRollback, in)
	if err != nil {
		return sw, fmt.Errorf("start rollback of %s: %w", in.Channel, err)
	}
	if err := run.Get(ctx, &sw); err != nil {
		return sw, fmt.Errorf("rollback of %s failed (workflow %s): %w", in.Channel, run.GetID(), err)
	}
	return sw, nil
}

func (a *app) filesCommand() *cobra.Command {
	var baseURL string
	cmd := &cobra.Command{
		Use:   "files CHANNEL",
		Short: "Print a .repo file that points a node's dnf at a channel",
		Example: `  # a trial from the dev setup's project root (the README's quick start):
  mkdir -p .osflow/try/testing && ./bin/osflow repo files testing > .osflow/try/testing/osflow.repo
  # on a node whose dnf the channel updates:
  osflow repo files production > /etc/yum.repos.d/osflow.repo`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if baseURL == "" {
				baseURL = cfg.HTTP.BaseURL
			}
			var st *repo.Store
			if hasTrees(cfg) { // only a tree's variants need the store
				if err := checkChannel(cfg, args[0]); err != nil {
					return err // a usage error first, before any about the store
				}
				if st, err = a.openStore(cfg); err != nil {
					return err
				}
			}
			return WriteRepoFile(a.stdout, cfg, st, args[0], baseURL)
		},
	}
	cmd.Flags().StringVar(&baseURL, "base-url", "", "URL where clients reach the channels (default http.baseURL)")
	return cmd
}

// hasTrees reports whether cfg has a repo that is or may be a tree.
func hasTrees(cfg *config.Config) bool {
	for _, r := range cfg.Repos {
		if r.Kind == config.RepoKindTree || r.Kind == config.RepoKindAuto {
			return true
		}
	}
	return false
}

// WriteRepoFile writes a dnf .repo file with one section per configured
// repo, and for a distribution tree one per variant repository of the
// snapshot the channel serves, read from st (which only trees need). A bad
// channel name or base URL is a UsageError, and nothing is written.
func WriteRepoFile(w io.Writer, cfg *config.Config, st *repo.Store, channel, baseURL string) error {
	if err := checkChannel(cfg, channel); err != nil {
		return err
	}
	baseURL, err := checkBaseURL(baseURL)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# osflow channel %q; generated by `osflow repo files`\n", channel)
	for _, r := range cfg.Repos {
		name := "osflow " + channel + " " + r.Name
		if r.Description != "" {
			name += ": " + r.Description
		}
		url := baseURL + channel + "/" + r.Name + "/"
		if r.Kind != config.RepoKindTree && r.Kind != config.RepoKindAuto {
			writeRepoSection(&b, r, channel, r.Name, name, url)
			continue
		}
		if st == nil {
			return fmt.Errorf("repo %s is a distribution tree (kind: %s): its variants are read from the store, which was not opened", r.Name, r.Kind)
		}
		tree, err := st.ChannelTree(channel, r.Name)
		if err != nil {
			return fmt.Errorf("repo %s on channel %s: %w", r.Name, channel, err)
		}
		switch {
		case tree == nil && r.Kind == config.RepoKindTree:
			// Its root has no repodata/ unless a variant sits there, and
			// one unreachable baseurl fails every dnf command.
			fmt.Fprintf(&b, "\n# %s: channel %s serves no snapshot of this distribution tree yet; run `osflow repo files` again once it does\n", r.Name, channel)
		case tree == nil: // kind auto, a plain repository
			writeRepoSection(&b, r, channel, r.Name, name, url)
		}
		if tree == nil {
			continue
		}
		for _, v := range tree.Variants {
			id := repo.VariantRepo(r.Name, v.UID, v.Path)
			vname := name
			if id != r.Name {
				vname = name + " " + cmp.Or(v.Name, v.UID)
			}
			vurl := url
			if v.Path != "." {
				vurl += v.Path + "/"
			}
			writeRepoSection(&b, r, channel, id, vname, vurl)
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// writeRepoSection writes the section [osflow-<channel>-<id>] for repo r
// served at url.
func writeRepoSection(w io.Writer, r config.Repo, channel, id, name, url string) {
	fmt.Fprintf(w, "\n[osflow-%s-%s]\nname=%s\nbaseurl=%s\nenabled=1\nmetadata_expire=300\n", channel, id, name, url)
	if r.Overlay {
		fmt.Fprintf(w, "cost=%d\n", repo.OverlayCost)
	}
	if r.GPGKey == "" {
		fmt.Fprintln(w, "gpgcheck=0")
		return
	}
	// The channel serves the key osflow verified with (an overlay's: its
	// RPMs') beside repomd.xml.
	fmt.Fprintf(w, "gpgcheck=1\ngpgkey=%s%s\n", url, repo.KeyPath)
	if !r.Overlay && r.RequiresSignature() {
		// Every snapshot of the repo has a verified repomd.xml.asc.
		fmt.Fprintln(w, "repo_gpgcheck=1")
	}
}

func (a *app) gcCommand() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Delete snapshots past retention and unreferenced pool files",
		Long: `Plans first, then deletes. Never touches a release or snapshot that a channel
serves, served before (rollback targets), or that is newer than the retention.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withStore(func(cfg *config.Config, st *repo.Store) error {
				plan, err := st.PlanGC(repo.GCPolicy{KeepSnapshots: cfg.GC.KeepSnapshots, MinAge: cfg.GC.MinAge.Duration}, time.Now())
				if err != nil {
					return err
				}
				var freed int64
				if !dryRun {
					if freed, err = st.ExecuteGC(cmd.Context(), plan); err != nil {
						return err
					}
				}
				if a.jsonOut {
					return printJSON(a.stdout, map[string]any{"plan": plan, "dryRun": dryRun, "freedBytes": freed})
				}
				for _, it := range plan.Delete {
					fmt.Fprintf(a.stdout, "delete %s (%s)\n", it.Path, it.Reason)
				}
				if dryRun {
					_, err = fmt.Fprintf(a.stdout, "%d items would be deleted; run without --dry-run to delete\n", len(plan.Delete))
				} else {
					_, err = fmt.Fprintf(a.stdout, "%d items deleted, %s freed\n", len(plan.Delete), humanBytes(freed))
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only print what would be deleted")
	return cmd
}
