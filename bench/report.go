package main

// Figures, the comparison table and the goals from the issue.

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"text/tabwriter"
)

// runFig is one measured process run.
type runFig struct {
	Seconds   Seconds `json:"seconds"`
	CPU       Seconds `json:"cpuSeconds"` // user + system: less sensitive to a busy machine than wall time
	MBps      float64 `json:"mbPerSecond,omitempty"`
	MaxRSSMiB float64 `json:"maxRssMiB"`
}

// newRunFig describes m; bytes > 0 gives the throughput over them.
func newRunFig(m measured, bytes int64) runFig {
	f := runFig{Seconds: Seconds(m.Wall), CPU: Seconds(m.CPU), MaxRSSMiB: float64(m.MaxRSSKiB) / 1024}
	if bytes > 0 && m.Wall > 0 {
		f.MBps = mb(bytes) / m.Wall.Seconds()
	}
	return f
}

// figures is everything one run measured; -json prints it.
type figures struct {
	N                int   `json:"packages"`
	UpstreamBytes    int64 `json:"upstreamBytes"`
	UpstreamUpgraded int   `json:"upstreamUpgraded"`

	Fetch     runFig `json:"plainFetch"`
	DNFSync   runFig `json:"dnfReposync"`
	DNFNoop   runFig `json:"dnfReposyncNoop"`
	DNFUpdate runFig `json:"dnfReposyncUpdate"`

	OsflowSync            runFig      `json:"osflowSync"`
	OsflowNoop            runFig      `json:"osflowSyncNoop"`
	OsflowUpdate          runFig      `json:"osflowSyncUpdate"`
	OsflowDownloaded      int         `json:"osflowDownloaded"`
	OsflowNoopDownloaded  int         `json:"osflowNoopDownloaded"`
	OsflowUpdateDownloads int         `json:"osflowUpdateDownloaded"`
	OsflowSyncStages      []stageTime `json:"osflowSyncStages"`
	OsflowUpdateStages    []stageTime `json:"osflowUpdateStages"`

	SnapshotOsflow Seconds `json:"snapshotOsflow"`
	SnapshotCP     Seconds `json:"snapshotCpAl"`

	DiffOsflow         Seconds `json:"diffOsflow"`
	DiffDNF            Seconds `json:"diffDnfRepodiff"`
	DiffUpgradedOsflow int     `json:"diffUpgradedOsflow"`
	DiffUpgradedDNF    int     `json:"diffUpgradedDnf"`

	Switches     int     `json:"switches"`
	SwitchMedian Seconds `json:"switchMedian"`
	SwitchP99    Seconds `json:"switchP99"`

	// The same syncs through Temporal, as a user runs them.
	TemporalSync         temporalFig `json:"temporalSync"`
	TemporalNoop         temporalFig `json:"temporalSyncNoop"`
	TemporalUpdate       temporalFig `json:"temporalSyncUpdate"`
	TemporalCLIStart     Seconds     `json:"temporalCliStart"`
	TemporalWorkerRSSMiB float64     `json:"temporalWorkerMaxRssMiB"`

	// The emergency bypass through Temporal.
	Bypass bypassFig `json:"bypass"`

	// primary.xml parsed in memory on one core, best of parseRounds.
	ParseBytes   int64   `json:"parseBytes"`
	ParseSeconds Seconds `json:"parseSeconds"`

	// LoadAvg is /proc/loadavg's 1-minute figure at start and end: one-shot
	// timings on a busy machine say more about the machine than about osflow.
	LoadAvg [2]float64 `json:"loadAvg"`

	Goals []goal `json:"goals"`
}

func loadAvg() float64 {
	var v float64
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscan(string(b), &v)
	}
	return v
}

type goal struct {
	Name string `json:"name"`
	Pass bool   `json:"pass"`
	Got  string `json:"got"`
	// Skipped is set when the peer the goal compares with was not run.
	Skipped bool `json:"skipped,omitempty"`
}

// better is a ratio > 1 when osflow is better: peer/osflow for costs.
func better(osflow, peer float64) string {
	if osflow <= 0 || peer <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", peer/osflow)
}

// goals are the targets. A goal whose figures were not measured
// (a step left out with -only or -skip-dnf) is skipped, not failed.
func (f *figures) goals() []goal {
	sync, dnf := f.OsflowSync.Seconds.S(), f.DNFSync.Seconds.S()
	update, dnfUpdate := f.OsflowUpdate.Seconds.S(), f.DNFUpdate.Seconds.S()
	noop, temporalNoop := f.OsflowNoop.Seconds.S(), f.TemporalNoop.Seconds.S()
	g := func(name string, measured ...float64) func(bool, string) goal {
		return func(pass bool, got string) goal {
			if slices.Contains(measured, 0) {
				return goal{Name: name, Got: "—", Skipped: true}
			}
			return goal{Name: name, Pass: pass, Got: got}
		}
	}
	return []goal{
		g("full sync ≥5× faster than dnf reposync", sync, dnf)(sync*5 <= dnf, fmt.Sprintf("%.2f×", dnf/sync)),
		g("full sync ≥80% of plain fetch throughput", sync, f.Fetch.MBps)(f.OsflowSync.MBps >= 0.8*f.Fetch.MBps,
			fmt.Sprintf("%.0f%%", 100*f.OsflowSync.MBps/f.Fetch.MBps)),
		g("update sync ≥5× faster than dnf reposync", update, dnfUpdate)(update*5 <= dnfUpdate, fmt.Sprintf("%.2f×", dnfUpdate/update)),
		g("osflow sync peak RSS ≤ half of dnf reposync's", sync, dnf)(2*f.OsflowSync.MaxRSSMiB <= f.DNFSync.MaxRSSMiB,
			fmt.Sprintf("%.0f vs %.0f MiB", f.OsflowSync.MaxRSSMiB, f.DNFSync.MaxRSSMiB)),
		g("worker peak RSS ≤ half of dnf reposync's", f.TemporalWorkerRSSMiB, dnf)(2*f.TemporalWorkerRSSMiB <= f.DNFSync.MaxRSSMiB,
			fmt.Sprintf("%.0f vs %.0f MiB", f.TemporalWorkerRSSMiB, f.DNFSync.MaxRSSMiB)),
		g("no-op re-sync in process < 0.2 s", noop)(noop < 0.2, fmt.Sprintf("%.3f s", noop)),
		g("no-op osflow sync --wait through Temporal < 0.2 s", temporalNoop)(temporalNoop < 0.2, fmt.Sprintf("%.3f s", temporalNoop)),
		g("primary.xml parse ≥ 60 MB/s on one core", f.parseMBps())(f.parseMBps() >= 60, fmt.Sprintf("%.0f MB/s", f.parseMBps())),
		g("snapshot no slower than cp -al", f.SnapshotOsflow.S(), f.SnapshotCP.S())(f.SnapshotOsflow <= f.SnapshotCP,
			fmt.Sprintf("%.3f vs %.3f s", f.SnapshotOsflow.S(), f.SnapshotCP.S())),
		g("diff ≥10× faster than dnf repodiff", f.DiffOsflow.S(), f.DiffDNF.S())(f.DiffOsflow.S()*10 <= f.DiffDNF.S(),
			fmt.Sprintf("%.0f×", f.DiffDNF.S()/f.DiffOsflow.S())),
		g(fmt.Sprintf("bypass to dnf on production < 5 s (%d repos × %d packages)", bypassRepos, bypassRepoPackages), f.Bypass.ToProduction.S())(
			f.Bypass.ToProduction.S() < 5, fmt.Sprintf("%.3f s", f.Bypass.ToProduction.S())),
		g("channel switch < 10 ms (p99)", f.SwitchP99.S())(f.SwitchP99.S() < 0.010, fmt.Sprintf("p99 %.2f ms", 1000*f.SwitchP99.S())),
	}
}

// comparison is one table row: osflow and its peer in the same unit.
type comparison struct {
	op           string
	osflow, peer float64
	format       string
	higherBetter bool
}

func (f *figures) comparisons() []comparison {
	const sec, mbps, mib = "%.3f s", "%.1f MB/s", "%.0f MiB"
	return []comparison{
		{"full sync, wall (dnf reposync)", f.OsflowSync.Seconds.S(), f.DNFSync.Seconds.S(), sec, false},
		{"full sync, throughput (dnf reposync)", f.OsflowSync.MBps, f.DNFSync.MBps, mbps, true},
		{"full sync, throughput (plain 16-way fetch)", f.OsflowSync.MBps, f.Fetch.MBps, mbps, true},
		{"full sync, CPU user+sys (dnf reposync)", f.OsflowSync.CPU.S(), f.DNFSync.CPU.S(), sec, false},
		{"full sync, CPU user+sys (plain 16-way fetch)", f.OsflowSync.CPU.S(), f.Fetch.CPU.S(), sec, false},
		{"full sync, peak RSS (dnf reposync)", f.OsflowSync.MaxRSSMiB, f.DNFSync.MaxRSSMiB, mib, false},
		{"full sync, peak RSS (plain 16-way fetch)", f.OsflowSync.MaxRSSMiB, f.Fetch.MaxRSSMiB, mib, false},
		{"no-op re-sync, wall (dnf reposync)", f.OsflowNoop.Seconds.S(), f.DNFNoop.Seconds.S(), sec, false},
		{fmt.Sprintf("update sync, %d upgraded (dnf reposync)", f.UpstreamUpgraded),
			f.OsflowUpdate.Seconds.S(), f.DNFUpdate.Seconds.S(), sec, false},
		{"snapshot of the synced tree (cp -al)", f.SnapshotOsflow.S(), f.SnapshotCP.S(), sec, false},
		{"diff of two releases (dnf repodiff)", f.DiffOsflow.S(), f.DiffDNF.S(), sec, false},
		{"bypass to dnf on production (createrepo_c + dnf makecache × 2 by hand)", f.Bypass.ToProduction.S(), f.Bypass.floor(), sec, false},
	}
}

func (f *figures) report(out io.Writer) {
	f.Goals = f.goals()
	fmt.Fprintf(out, "\nosflow benchmark: %d packages, %.1f MB upstream, %d upgraded in the update; %d CPUs, load average %.2f at start, %.2f at end\n\n",
		f.N, mb(f.UpstreamBytes), f.UpstreamUpgraded, runtime.NumCPU(), f.LoadAvg[0], f.LoadAvg[1])
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "operation\tosflow\tpeer\tratio (>1: osflow better)")
	fmt.Fprintln(w, "---------\t------\t----\t-------------------------")
	row := func(op, o, p, r string) { fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", op, o, p, r) }
	for _, c := range f.comparisons() {
		ratio := better(c.osflow, c.peer)
		if c.higherBetter {
			ratio = better(c.peer, c.osflow)
		}
		peer := fmt.Sprintf(c.format, c.peer)
		if c.peer == 0 {
			peer = "—" // not run
		}
		row(c.op, fmt.Sprintf(c.format, c.osflow), peer, ratio)
	}
	upgradedDNF := "—"
	if f.DiffDNF > 0 {
		upgradedDNF = fmt.Sprint(f.DiffUpgradedDNF)
	}
	row(fmt.Sprintf("  upgraded found (expected %d)", f.UpstreamUpgraded), fmt.Sprint(f.DiffUpgradedOsflow), upgradedDNF, "")
	row(fmt.Sprintf("channel switch, median of %d", f.Switches), fmt.Sprintf("%.3f ms", 1000*f.SwitchMedian.S()), "—", "")
	row(fmt.Sprintf("channel switch, p99 of %d", f.Switches), fmt.Sprintf("%.3f ms", 1000*f.SwitchP99.S()), "—", "")
	w.Flush()

	fmt.Fprintf(out, "\nosflow full sync by stage: %s\nosflow update sync by stage: %s\n",
		stagesString(f.OsflowSyncStages), stagesString(f.OsflowUpdateStages))
	if f.ParseSeconds > 0 {
		fmt.Fprintf(out, "primary.xml parse, one core: %.1f MB in %.3f s, %.0f MB/s\n", mb(f.ParseBytes), f.ParseSeconds.S(), f.parseMBps())
	}
	f.reportTemporal(out)
	if f.Bypass.Total > 0 {
		fmt.Fprintf(out, "\nosflow bypass --wait, %d repos × %d packages: %.3f s to dnf on production, %.3f s to the CLI's exit\n  by step: %s\n  floor by hand: %s\n",
			bypassRepos, bypassRepoPackages, f.Bypass.ToProduction.S(), f.Bypass.Total.S(), stagesString(f.Bypass.Steps), stagesString(f.Bypass.Floor))
	}
	fmt.Fprintln(out, "\ngoals:")
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, g := range f.Goals {
		verdict := "FAIL"
		switch {
		case g.Skipped:
			verdict = "SKIP"
		case g.Pass:
			verdict = "PASS"
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\n", verdict, g.Name, g.Got)
	}
	w.Flush()
}

// reportTemporal prints the syncs through Temporal next to the same syncs
// in process, and where the time through Temporal went.
func (f *figures) reportTemporal(out io.Writer) {
	if f.TemporalNoop.Seconds == 0 {
		return
	}
	fmt.Fprintf(out, "\nosflow sync --wait through Temporal (dev server, osflow worker) vs the mirror in process:\n")
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "sync\tin process\tthrough Temporal\tdifference\tCPU: CLI\tworker\tTemporal server")
	for _, r := range []struct {
		name     string
		in       runFig
		temporal temporalFig
	}{
		{"full", f.OsflowSync, f.TemporalSync},
		{"no-op", f.OsflowNoop, f.TemporalNoop},
		{"update", f.OsflowUpdate, f.TemporalUpdate},
	} {
		in := "—"
		if r.in.Seconds > 0 {
			in = fmt.Sprintf("%.3f s", r.in.Seconds.S())
		}
		fmt.Fprintf(w, "%s\t%s\t%.3f s\t%+.3f s\t%.3f s\t%.2f s\t%.2f s\n", r.name, in, r.temporal.Seconds.S(),
			r.temporal.Seconds.S()-r.in.Seconds.S(), r.temporal.CPU.S(), r.temporal.WorkerCPU.S(), r.temporal.ServerCPU.S())
	}
	w.Flush()
	fmt.Fprintf(out, "worker peak RSS %.0f MiB; osflow CLI start alone (sync --help) %.3f s\n", f.TemporalWorkerRSSMiB, f.TemporalCLIStart.S())
	for _, r := range []struct {
		name string
		fig  temporalFig
	}{{"full", f.TemporalSync}, {"no-op", f.TemporalNoop}, {"update", f.TemporalUpdate}} {
		fmt.Fprintf(out, "through Temporal, %s sync by stage: %s\n", r.name, stagesString(r.fig.Stages))
	}
}
