package main

// make bench-scale: how a sync grows with the number of packages. Each size
// gets a synthetic upstream with small payloads (the per-package costs are
// what grows), synced in a child process, then updated; the metadata parse,
// the diff of the two releases and the store's garbage collection are timed
// in process. A DailySync-like run then mirrors many repos at once in one
// process, as a worker does.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/mirror"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// scalePayloads keep 100,000 packages near 100 MB.
func scalePayloads(n int, salt uint64) genSpec {
	return genSpec{N: n, Mean: 1_000, Spread: 500, Salt: salt}
}

// scaleRow is one line of the table.
type scaleRow struct {
	Label         string  `json:"label"`
	Packages      int     `json:"packages"`
	Repos         int     `json:"repos"`
	UpstreamBytes int64   `json:"upstreamBytes"`
	Sync          runFig  `json:"sync"`
	SyncGCCPU     Seconds `json:"syncGoGcCpuSeconds"`
	Update        runFig  `json:"update,omitempty"`
	Parse         Seconds `json:"parseSeconds,omitempty"` // decompress and parse primary.xml
	ParseBytes    int64   `json:"parseBytes,omitempty"`   // of XML
	Diff          Seconds `json:"diffSeconds,omitempty"`
	StoreGC       Seconds `json:"storeGcSeconds,omitempty"`
	StoreGCItems  int     `json:"storeGcDeleted,omitempty"`
}

func runScale(ctx context.Context, cfg config, work string) error {
	sizes, err := parseSizes(cfg.ScaleSizes)
	if err != nil {
		return err
	}
	var rows []scaleRow
	load0 := loadAvg()
	for _, n := range sizes {
		row, err := scaleOne(ctx, filepath.Join(work, fmt.Sprintf("scale-%d", n)), n)
		if err != nil {
			return fmt.Errorf("%d packages: %w", n, err)
		}
		rows = append(rows, row)
	}
	many, err := scaleMany(ctx, filepath.Join(work, fmt.Sprintf("scale-%dx%d", cfg.ScaleRepos, cfg.ScaleRepoPackages)),
		cfg.ScaleRepos, cfg.ScaleRepoPackages)
	if err != nil {
		return fmt.Errorf("%d repos at once: %w", cfg.ScaleRepos, err)
	}
	rows = append(rows, many)
	reportScale(os.Stdout, rows, load0, loadAvg())
	if cfg.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	return nil
}

func parseSizes(s string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-scale-sizes %q: want positive integers separated by commas", s)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// scaleOne syncs an upstream of n packages, then its update, and times the
// parse, the diff and the store's GC.
func scaleOne(ctx context.Context, dir string, n int) (scaleRow, error) {
	row := scaleRow{Label: fmt.Sprintf("%d", n), Packages: n, Repos: 1}
	base, updated, err := generateUpstreams(filepath.Join(dir, "upstream"), scalePayloads(n, 0))
	if err != nil {
		return row, err
	}
	row.UpstreamBytes = base.Bytes
	srv, run, stop, err := serveScale(dir)
	if err != nil {
		return row, err
	}
	defer stop(context.Background())
	store := filepath.Join(run, "store")

	settle()
	progress("scale %d: full sync ...", n)
	m, first, err := scaleSync(ctx, run, "sync", cmdOsflowSync, store, srv+"/v1/")
	if err != nil {
		return row, err
	}
	row.Sync, row.SyncGCCPU = newRunFig(m, base.Bytes), Seconds(first.GCCPU*float64(time.Second))
	progress("scale %d: sync %.2fs, CPU %.2fs, peak RSS %.0f MiB; %s", n, m.Wall.Seconds(), m.CPU.Seconds(),
		row.Sync.MaxRSSMiB, stagesString(first.Stages))

	settle()
	progress("scale %d: update sync (%d upgraded) ...", n, updated.Updated)
	m, second, err := scaleSync(ctx, run, "update", cmdOsflowSync, store, srv+"/v2/")
	if err != nil {
		return row, err
	}
	row.Update = newRunFig(m, 0)

	st, err := repo.Open(store)
	if err != nil {
		return row, err
	}
	relA, relB, err := releasesOf(st, first.Snapshot, second.Snapshot)
	if err != nil {
		return row, err
	}
	// The in-process timings are short: the best of a few is kept.
	for range inProcessRounds {
		parse, size, err := timeParse(base, n)
		if err != nil {
			return row, err
		}
		diff, err := timeDiff(st, relA, relB, updated.Updated)
		if err != nil {
			return row, err
		}
		if row.Parse == 0 || parse < row.Parse {
			row.Parse, row.ParseBytes = parse, size
		}
		if row.Diff == 0 || diff < row.Diff {
			row.Diff = diff
		}
	}
	row.StoreGC, row.StoreGCItems, err = timeStoreGC(ctx, st)
	progress("scale %d: parse %.3fs, diff %.3fs, store GC %.3fs (%d deleted)", n, row.Parse.S(), row.Diff.S(), row.StoreGC.S(), row.StoreGCItems)
	return row, err
}

// serveScale serves dir/upstream and empties dir/run for a measurement.
func serveScale(dir string) (url, run string, stop func(context.Context) error, err error) {
	run = filepath.Join(dir, "run")
	if err := os.RemoveAll(run); err != nil {
		return "", "", nil, err
	}
	if err := os.MkdirAll(run, 0o755); err != nil {
		return "", "", nil, err
	}
	url, stop, err = serveDir(filepath.Join(dir, "upstream"))
	return url, run, stop, err
}

// scaleSync runs a sync child (cmd with args) and reads its result.
func scaleSync(ctx context.Context, run, name, cmd string, args ...string) (measured, syncResult, error) {
	m, err := runSelf(ctx, filepath.Join(run, name+".log"), nil, append([]string{cmd}, args...)...)
	if err != nil {
		return m, syncResult{}, err
	}
	var res syncResult
	if err := json.Unmarshal(m.Stdout, &res); err != nil {
		return m, res, fmt.Errorf("%s child output: %w", cmd, err)
	}
	return m, res, nil
}

// timeParse decompresses and parses u's primary.xml, as a sync does.
func timeParse(u *upstream, want int) (Seconds, int64, error) {
	f, err := os.Open(filepath.Join(u.Dir, "repodata", "repomd.xml"))
	if err != nil {
		return 0, 0, err
	}
	md, err := rpmmd.ParseRepomd(f, rpmmd.Limits{})
	f.Close()
	if err != nil {
		return 0, 0, err
	}
	d, _ := md.Find("primary")
	packed, err := os.ReadFile(filepath.Join(u.Dir, d.Href))
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	rc, err := rpmmd.Decompress(d.Href, bytes.NewReader(packed), d.OpenSize)
	if err != nil {
		return 0, 0, err
	}
	defer rc.Close()
	open := &countingReader{r: rc}
	n := 0
	if err := rpmmd.ParsePrimary(open, "", func(rpmmd.Package) error { n++; return nil }); err != nil {
		return 0, 0, err
	}
	took := time.Since(start)
	if n != want {
		return 0, 0, fmt.Errorf("parsed %d packages, want %d", n, want)
	}
	return Seconds(took), open.n, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// inProcessRounds of the parse and the diff are timed at each size.
const inProcessRounds = 3

// releasesOf makes a release of each snapshot.
func releasesOf(st *repo.Store, idA, idB string) (relA, relB string, err error) {
	now := time.Now()
	a, _, err := st.CreateRelease(now, map[string]string{benchRepo: idA})
	if err != nil {
		return "", "", err
	}
	b, _, err := st.CreateRelease(now.Add(time.Second), map[string]string{benchRepo: idB})
	return a.ID, b.ID, err
}

func timeDiff(st *repo.Store, relA, relB string, upgraded int) (Seconds, error) {
	start := time.Now()
	diff, err := st.DiffReleases(relA, relB)
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if got := len(diff.Repos[benchRepo].Upgraded); got != upgraded {
		return 0, fmt.Errorf("diff found %d upgraded, want %d", got, upgraded)
	}
	return Seconds(took), nil
}

// timeStoreGC collects everything but the newest snapshot: the old
// snapshot, both (unserved) releases and the pool objects only the old
// snapshot used.
func timeStoreGC(ctx context.Context, st *repo.Store) (Seconds, int, error) {
	start := time.Now()
	plan, err := st.PlanGC(repo.GCPolicy{KeepSnapshots: 1}, time.Now().Add(time.Hour))
	if err != nil {
		return 0, 0, err
	}
	if _, err := st.ExecuteGC(ctx, plan); err != nil {
		return 0, 0, err
	}
	return Seconds(time.Since(start)), len(plan.Delete), nil
}

// scaleMany mirrors repos upstreams of n packages each at once, in one
// process sharing one store, as a worker runs a DailySync's SyncRepo
// activities.
func scaleMany(ctx context.Context, dir string, repos, n int) (scaleRow, error) {
	row := scaleRow{Label: fmt.Sprintf("%d repos × %d, at once", repos, n), Packages: repos * n, Repos: repos}
	for i := range repos {
		base, _, err := generateUpstreams(filepath.Join(dir, "upstream", fmt.Sprintf("r%02d", i)), scalePayloads(n, uint64(i+1)))
		if err != nil {
			return row, err
		}
		row.UpstreamBytes += base.Bytes
	}
	srv, run, stop, err := serveScale(dir)
	if err != nil {
		return row, err
	}
	defer stop(context.Background())
	args := []string{filepath.Join(run, "store")}
	for i := range repos {
		args = append(args, fmt.Sprintf("%s/r%02d/v1/", srv, i))
	}
	settle()
	progress("scale: %d repos of %d packages at once ...", repos, n)
	m, res, err := scaleSync(ctx, run, "many", cmdOsflowSyncMany, args...)
	if err != nil {
		return row, err
	}
	row.Sync, row.SyncGCCPU = newRunFig(m, row.UpstreamBytes), Seconds(res.GCCPU*float64(time.Second))
	progress("scale: %d repos: %.2fs, CPU %.2fs, peak RSS %.0f MiB", repos, m.Wall.Seconds(), m.CPU.Seconds(), row.Sync.MaxRSSMiB)
	return row, nil
}

// runOsflowSyncManyChild is the osflow-sync-many subcommand: STORE URL...,
// each URL mirrored as repo rNN, all at once.
func runOsflowSyncManyChild(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: %s STORE URL...", cmdOsflowSyncMany)
	}
	st, err := repo.Open(args[0])
	if err != nil {
		return err
	}
	m := mirror.New(st, mirrorWorkers, nil)
	var wg sync.WaitGroup
	errs := make([]error, len(args)-1)
	for i, url := range args[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = m.Sync(context.Background(), mirror.Source{Repo: fmt.Sprintf("r%02d", i), URL: url}, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("repo r%02d: %w", i, err)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(syncResult{Changed: true, GCCPU: gcCPU()})
}

func reportScale(out io.Writer, rows []scaleRow, load0, load1 float64) {
	fmt.Fprintf(out, "\nosflow at scale: synthetic upstreams with ~1 KB payloads; load average %.2f at start, %.2f at end\n\n", load0, load1)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "packages\tupstream MB\tsync s\tCPU s\tpeak RSS MiB\tGo GC CPU s\tupdate sync s\tgunzip+parse s (MB/s)\tdiff s\tstore GC s\tsync ms per 1,000 pkgs\t")
	for _, r := range rows {
		parse, diff, gc, update := "—", "—", "—", "—"
		if r.Parse > 0 {
			parse = fmt.Sprintf("%.3f (%.0f)", r.Parse.S(), mb(r.ParseBytes)/r.Parse.S())
			diff = fmt.Sprintf("%.3f", r.Diff.S())
			gc = fmt.Sprintf("%.3f", r.StoreGC.S())
			update = fmt.Sprintf("%.2f", r.Update.Seconds.S())
		}
		fmt.Fprintf(w, "%s\t%.1f\t%.2f\t%.2f\t%.0f\t%.2f\t%s\t%s\t%s\t%s\t%.0f\t\n", r.Label, mb(r.UpstreamBytes),
			r.Sync.Seconds.S(), r.Sync.CPU.S(), r.Sync.MaxRSSMiB, r.SyncGCCPU.S(), update, parse, diff, gc,
			1000*r.Sync.Seconds.S()/float64(r.Packages)*1000)
	}
	w.Flush()
	var single []scaleRow
	for _, r := range rows {
		if r.Repos == 1 {
			single = append(single, r)
		}
	}
	if len(single) < 2 {
		return
	}
	a, b := single[0], single[len(single)-1]
	ratio := func(x, y float64) string {
		if x <= 0 {
			return "—"
		}
		return fmt.Sprintf("×%.1f", y/x)
	}
	fmt.Fprintf(out, "\ngrowth from %d to %d packages (×%.0f): sync time %s, CPU %s, parse %s, diff %s, store GC %s; peak RSS %s\n",
		a.Packages, b.Packages, float64(b.Packages)/float64(a.Packages),
		ratio(a.Sync.Seconds.S(), b.Sync.Seconds.S()), ratio(a.Sync.CPU.S(), b.Sync.CPU.S()),
		ratio(a.Parse.S(), b.Parse.S()), ratio(a.Diff.S(), b.Diff.S()), ratio(a.StoreGC.S(), b.StoreGC.S()),
		ratio(a.Sync.MaxRSSMiB, b.Sync.MaxRSSMiB))
}
