// Command bench measures osflow's mirror and store against the tools a site
// would otherwise use (dnf reposync, dnf repodiff, cp -al) and against a plain
// parallel fetch, on a synthetic upstream served over loopback HTTP.
//
//	go run ./bench [-n N] [-workdir DIR] [-json] [-dnf-parallel N] [-skip-dnf] [-cpuprofile DIR]
//
// It prints a table and the goals with PASS/FAIL. A missed goal is reported,
// not fatal; the exit status is non-zero only when something fails to run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"time"
)

type config struct {
	N           int
	Workdir     string
	JSON        bool
	DNFParallel int
	SkipDNF     bool   // measure osflow and the plain fetch only, for quick comparisons
	CPUProfile  string // directory for CPU profiles (see -cpuprofile)
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case cmdFetch:
			exitOn(runFetchChild(os.Args[2:]))
			return
		case cmdOsflowSync:
			exitOn(runOsflowSyncChild(os.Args[2:]))
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
	flag.Parse()
	if cfg.N <= 0 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
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
