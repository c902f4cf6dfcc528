package main

// The metadata parser alone: primary.xml of the generated upstream,
// decompressed in memory and parsed on one core.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// parseRounds are timed; the best is kept, as the machine is shared.
const parseRounds = 5

func (b *bench) measureParse(context.Context) error {
	f, err := os.Open(filepath.Join(b.base.Dir, "repodata", "repomd.xml"))
	if err != nil {
		return err
	}
	md, err := rpmmd.ParseRepomd(f, rpmmd.Limits{})
	f.Close()
	if err != nil {
		return err
	}
	d, ok := md.Find("primary")
	if !ok {
		return fmt.Errorf("%s: no primary", f.Name())
	}
	packed, err := os.ReadFile(filepath.Join(b.base.Dir, d.Href))
	if err != nil {
		return err
	}
	rc, err := rpmmd.Decompress(d.Href, bytes.NewReader(packed), d.OpenSize)
	if err != nil {
		return err
	}
	doc, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return err
	}
	progress("parsing primary.xml (%.1f MB) %d times ...", mb(int64(len(doc))), parseRounds)
	stop, err := b.profileInProcess("parse")
	if err != nil {
		return err
	}
	defer stop()
	prev := runtime.GOMAXPROCS(1) // one core, as the goal says
	defer runtime.GOMAXPROCS(prev)
	best := time.Hour
	for range parseRounds {
		n := 0
		start := time.Now()
		err := rpmmd.ParsePrimary(bytes.NewReader(doc), "", func(rpmmd.Package) error { n++; return nil })
		best = min(best, time.Since(start))
		if err != nil {
			return err
		}
		if n != len(b.base.Pkgs) {
			return fmt.Errorf("parsed %d packages, want %d", n, len(b.base.Pkgs))
		}
	}
	b.fig.ParseBytes, b.fig.ParseSeconds = int64(len(doc)), Seconds(best)
	progress("primary.xml: %.1f MB in %.3fs, %.0f MB/s", mb(int64(len(doc))), best.Seconds(), b.fig.parseMBps())
	return nil
}

func (f *figures) parseMBps() float64 {
	if f.ParseSeconds <= 0 {
		return 0
	}
	return mb(f.ParseBytes) / f.ParseSeconds.S()
}
