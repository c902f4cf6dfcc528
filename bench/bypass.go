package main

// The emergency bypass as an operator runs it: `osflow bypass site
// FIX.rpm --wait` against `osflow worker` on a Temporal dev server, with
// three mirrored repos of bypassRepoPackages packages each, timed from the
// CLI's start to dnf seeing the fix on production, step by step. Its peer
// is the floor the issue names: one createrepo_c run on the overlay and
// one dnf metadata fetch per channel.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/osflow/osflow/integrations/repo"
	rpmbuild "github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/workflows"
)

const (
	bypassRepos        = 3
	bypassRepoPackages = 2000
	// bypassStepToProduction is the step after which a node on production
	// sees the fix; what follows (ticket, notify) does not delay it.
	bypassStepToProduction = "dnf sees it on testing and production"
)

// bypassFig is one measured bypass.
type bypassFig struct {
	Total        Seconds     `json:"total"`        // the CLI, start to exit
	ToProduction Seconds     `json:"toProduction"` // the CLI's start to dnf seeing the fix on production
	Steps        []stageTime `json:"steps"`
	// Floor is createrepo_c on the overlay and a dnf metadata fetch of
	// each channel, run by hand.
	Floor []stageTime `json:"floor"`
}

func (f bypassFig) floor() float64 {
	var s float64
	for _, st := range f.Floor {
		s += st.Seconds
	}
	return s
}

func (b *bench) measureBypass(ctx context.Context) error {
	dir := filepath.Join(b.run, "bypass")
	ups := filepath.Join(filepath.Dir(b.run), "bypass-upstream")
	for i := range bypassRepos {
		g := genSpec{N: bypassRepoPackages, Mean: 4000, Spread: 2000, Salt: uint64(i + 1)}
		if _, _, err := generateUpstreams(filepath.Join(ups, fmt.Sprint(i)), g); err != nil {
			return err
		}
	}
	upURL, stopUp, err := serveDir(ups)
	if err != nil {
		return err
	}
	defer stopUp(context.Background())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	store, err := repo.Open(filepath.Join(dir, "store"))
	if err != nil {
		return err
	}
	chURL, stopCh, err := serve(repo.Handler(store))
	if err != nil {
		return err
	}
	defer stopCh(context.Background())

	ts := &temporalSite{dir: dir}
	defer func() {
		if _, err := ts.stop(); err != nil {
			progress("stopping the bypass site: %v", err)
		}
	}()
	address, err := ts.startServer(ctx, b.cfg.TemporalCLI, b.cfg.TemporalArgs)
	if err != nil {
		return err
	}
	var yaml strings.Builder
	fmt.Fprintf(&yaml, `store: %[1]s/store
temporal:
  address: %[2]s
  namespace: default
http:
  baseURL: %[3]s/
log:
  format: console
  level: warn
tickets:
  dir: %[1]s/tickets
testing:
  gate:
    cleanRounds: 99
repos:
`, dir, address, chURL)
	for i := range bypassRepos {
		fmt.Fprintf(&yaml, "  - name: repo%d\n    url: %s/%d/v1/\n", i, upURL, i)
	}
	yaml.WriteString("  - name: site\n    overlay: true\n    bypass:\n      allow: [\"bench-fix\"]\n")
	ts.config = filepath.Join(dir, "osflow.yaml")
	if err := os.WriteFile(ts.config, []byte(yaml.String()), 0o644); err != nil {
		return err
	}
	if err := ts.startWorker(ctx, b.cfg.Osflow); err != nil {
		return err
	}
	log := filepath.Join(dir, "bypass.log")
	progress("bypass: syncing %d repos of %d packages ...", bypassRepos, bypassRepoPackages)
	if _, err := runMeasured(ctx, log, nil, b.cfg.Osflow, "--config", ts.config, "sync", "--wait"); err != nil {
		return fmt.Errorf("the first sync: %w (log: %s)", err, log)
	}
	testing, err := store.Channel("testing")
	if err != nil {
		return err
	}
	if _, err := store.Switch(ctx, repo.SwitchRequest{Channel: "production", Release: testing, Actor: "bench", Reason: "bench", Key: "bench-production"}); err != nil {
		return err
	}
	rpms, err := rpmbuild.BuildSpecs(ctx, []rpmbuild.Spec{{Name: "bench-fix", Version: "1.1", Release: "1"}}, filepath.Join(dir, "vendor"))
	if err != nil {
		return err
	}

	settle()
	progress("osflow bypass site %s --wait ...", filepath.Base(rpms[0]))
	start := time.Now()
	m, err := runMeasured(ctx, log, nil, b.cfg.Osflow, "--config", ts.config, "--json", "bypass", "site", rpms[0], "--reason", "bench", "--wait")
	if err != nil {
		return fmt.Errorf("osflow bypass: %w (log: %s)", err, log)
	}
	fig, err := bypassSteps(m.Stdout, start, m.Wall)
	if err != nil {
		return err
	}
	if fig.Floor, err = bypassFloor(ctx, dir, store, chURL, log); err != nil {
		return err
	}
	b.fig.Bypass = fig
	progress("osflow bypass: %.3fs to dnf on production, %.3fs in all; %s", fig.ToProduction.S(), fig.Total.S(), stagesString(fig.Steps))
	return nil
}

// bypassSteps reads the step events `osflow --json bypass --wait` prints.
func bypassSteps(stdout []byte, start time.Time, wall time.Duration) (bypassFig, error) {
	fig := bypassFig{Total: Seconds(wall)}
	var first time.Time
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Event string
			Data  workflows.Step
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Event != "step" {
			continue
		}
		s := ev.Data
		if first.IsZero() {
			first = s.Started
			fig.Steps = append(fig.Steps, stageTime{"CLI: stage the file, start the workflow", s.Started.Sub(start).Seconds()})
		}
		fig.Steps = append(fig.Steps, stageTime{s.Name, s.Ended.Sub(s.Started).Seconds()})
		if s.Name == bypassStepToProduction {
			fig.ToProduction = Seconds(s.Ended.Sub(start))
		}
	}
	if fig.ToProduction == 0 {
		return fig, fmt.Errorf("osflow bypass --json: no %q step in %q", bypassStepToProduction, stdout)
	}
	return fig, nil
}

// bypassFloor times what a bypass cannot avoid, done by hand: createrepo_c
// over a copy of the overlay, and dnf fetching each channel's overlay
// metadata (the repo that changed; a node's other repos did not).
func bypassFloor(ctx context.Context, dir string, store *repo.Store, chURL, log string) ([]stageTime, error) {
	overlay := filepath.Join(dir, "floor-overlay")
	_ = os.RemoveAll(overlay)
	if _, err := runMeasured(ctx, log, nil, "cp", "-a", filepath.Join(store.Root(), "overlays", "site"), overlay); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(filepath.Join(overlay, "repodata")); err != nil {
		return nil, err
	}
	m, err := runMeasured(ctx, log, nil, "createrepo_c", "--unique-md-filenames", overlay)
	if err != nil {
		return nil, err
	}
	floor := []stageTime{{"createrepo_c on the overlay", m.Wall.Seconds()}}
	for _, ch := range []string{"testing", "production"} {
		reposd := filepath.Join(dir, "floor-repos-"+ch)
		if err := os.MkdirAll(reposd, 0o755); err != nil {
			return nil, err
		}
		conf := fmt.Sprintf("[site]\nname=site\nbaseurl=%s/%s/site/\ngpgcheck=0\n", chURL, ch)
		if err := os.WriteFile(filepath.Join(reposd, "osflow.repo"), []byte(conf), 0o644); err != nil {
			return nil, err
		}
		cache := filepath.Join(dir, "floor-cache-"+ch)
		_ = os.RemoveAll(cache)
		m, err := runMeasured(ctx, log, nil, "dnf", "--noplugins", "--setopt=reposdir="+reposd, "--setopt=cachedir="+cache,
			"--installroot="+filepath.Join(dir, "floor-root"), "--releasever=9", "makecache")
		if err != nil {
			return nil, fmt.Errorf("dnf makecache on %s: %w (log: %s)", ch, err, log)
		}
		floor = append(floor, stageTime{"dnf makecache of the overlay on " + ch, m.Wall.Seconds()})
	}
	return floor, nil
}
