// Command bench measures osflow's mirror and store against the tools a site
// would otherwise use (dnf reposync, dnf repodiff, cp -al) and against a plain
// parallel fetch, on a synthetic upstream served over loopback HTTP; then the
// same syncs the way a user runs them, `osflow sync --wait` against `osflow
// worker` on a Temporal dev server, with where their time goes; and the
// primary.xml parser alone.
//
//	go run ./bench [-n N] [-workdir DIR] [-json] [-dnf-parallel N] [-skip-dnf] [-only STEPS] [-cpuprofile DIR]
//	go run ./bench -scale [-scale-sizes 2000,20000,100000] [-scale-repos 12] [-scale-repo-packages 2000]
//
// It prints a table and the goals with PASS/FAIL. A missed goal is reported,
// not fatal; the exit status is non-zero only when something fails to run.
// With -scale it prints how sync time, CPU, peak RSS, parse, diff and store
// GC grow with the number of packages instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"
)

type config struct {
	N           int
	Workdir     string
	JSON        bool
	DNFParallel int
	SkipDNF     bool   // measure osflow and the plain fetch only, for quick comparisons
	CPUProfile  string // directory for CPU profiles (see -cpuprofile)
	Only        string // comma-separated steps to run; "" runs all
	Osflow      string // the osflow binary, for the path through Temporal
	TemporalCLI string // the Temporal CLI that runs the dev server
	// TemporalArgs are extra arguments of the dev server, such as
	// --dynamic-config-value settings to compare.
	TemporalArgs stringList

	// Scale selects make bench-scale's run instead of the comparison.
	Scale             bool
	ScaleSizes        string // comma-separated package counts
	ScaleRepos        int    // repos synced at once
	ScaleRepoPackages int    // packages in each of them
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case cmdFetch:
			exitOn(runFetchChild(os.Args[2:]))
			return
		case cmdOsflowSync:
			exitOn(runOsflowSyncChild(os.Args[2:]))
			return
		case cmdOsflowSyncMany:
			exitOn(runOsflowSyncManyChild(os.Args[2:]))
			return
		}
	}
	cfg := config{N: 2000}
	if v := os.Getenv("BENCH_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			exitOn(fmt.Errorf("BENCH_N=%q: want a positive integer", v))
		}
		cfg.N = n
	}
	flag.IntVar(&cfg.N, "n", cfg.N, "number of packages in the synthetic upstream (default: $BENCH_N, else 2000)")
	flag.StringVar(&cfg.Workdir, "workdir", "", "work directory, kept afterwards; a generated upstream in it is reused (default: a temporary directory, removed)")
	flag.BoolVar(&cfg.JSON, "json", false, "also print one JSON object with every figure at the end")
	flag.IntVar(&cfg.DNFParallel, "dnf-parallel", 0, "dnf max_parallel_downloads (0: dnf's default)")
	flag.BoolVar(&cfg.SkipDNF, "skip-dnf", false, "skip dnf reposync and repodiff: goals against them are not judged")
	flag.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write CPU profiles to this directory: of the plain fetch and osflow-sync children, and of the in-process snapshot, diff and switches")
	flag.StringVar(&cfg.Only, "only", "", "run only these steps, comma-separated: "+strings.Join(stepNames(), ","))
	flag.StringVar(&cfg.Osflow, "osflow", "bin/osflow", "osflow binary for `osflow sync --wait` through Temporal (make bench builds it)")
	flag.StringVar(&cfg.TemporalCLI, "temporal", "bin/temporal", "Temporal CLI that runs the dev server")
	flag.Var(&cfg.TemporalArgs, "temporal-arg", "extra argument of the Temporal dev server (repeatable), e.g. --dynamic-config-value")
	flag.BoolVar(&cfg.Scale, "scale", false, "measure growth with the number of packages instead (make bench-scale)")
	flag.StringVar(&cfg.ScaleSizes, "scale-sizes", "2000,20000,100000", "with -scale: package counts of the single-repo upstreams")
	flag.IntVar(&cfg.ScaleRepos, "scale-repos", 12, "with -scale: repos synced at once in the DailySync-like run")
	flag.IntVar(&cfg.ScaleRepoPackages, "scale-repo-packages", 2000, "with -scale: packages in each of those repos")
	flag.Parse()
	if cfg.N <= 0 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	for _, name := range strings.Split(cfg.Only, ",") {
		if name = strings.TrimSpace(name); name != "" && !slices.Contains(stepNames(), name) {
			exitOn(fmt.Errorf("-only %s: no such step; the steps are %s", name, strings.Join(stepNames(), ",")))
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	exitOn(run(ctx, cfg))
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var started = time.Now()

// progress reports to stderr, so that a long run shows it is alive.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%7.1fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
}
