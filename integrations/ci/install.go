package ci

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

// Install checks that sets of packages install from the channel's repos:
// one case per set, each installed with dnf into a fresh, empty
// installroot, so that one set's packages cannot satisfy another's
// dependencies. A set that does not install fails with the tail of dnf's
// error output, which names the problem ("nothing provides X needed by Y").
//
// The channel's metadata is fetched once, before the first set, and every
// set resolves against that copy: sets see the same channel state, a
// channel that cannot be reached is ErrBroken rather than a failure of
// the first set, and big repos' metadata is not downloaded once per set.
//
// dnf --installroot install needs root.
type Install struct {
	SuiteName string              // default "install"
	Sets      map[string][]string // set name -> package specs; sets run in name order
	Timeout   time.Duration       // for the whole suite; zero: no limit beyond ctx
}

func (in Install) Name() string { return cmp.Or(in.SuiteName, "install") }

func (in Install) Run(ctx context.Context, t Target) (Result, error) {
	name := in.Name()
	if err := in.check(t); err != nil {
		return Result{}, fmt.Errorf("suite %s: %w", name, err)
	}
	ctx, cancel := withTimeout(ctx, in.Timeout)
	defer cancel()
	d, err := newDNF(t)
	if err != nil {
		return Result{}, fmt.Errorf("suite %s: %w", name, err)
	}
	defer d.close()

	res, err := d.run(ctx, 0, "--noplugins", "--refresh", "makecache")
	if err != nil {
		return Result{}, fmt.Errorf("suite %s: channel %s: %w%s", name, t.BaseURL, err, stderrNote(res))
	}
	if res.code != 0 {
		return Result{}, fmt.Errorf("%w: suite %s: channel %s: dnf makecache failed (%s)%s", ErrBroken, name, t.BaseURL, res.state, stderrNote(res))
	}

	result := Result{Suite: name}
	for _, set := range slices.Sorted(maps.Keys(in.Sets)) {
		c, err := in.installSet(ctx, d, set, in.Sets[set])
		if err != nil {
			return Result{}, fmt.Errorf("suite %s: channel %s: set %s: %w", name, t.BaseURL, set, err)
		}
		result.Cases = append(result.Cases, c)
	}
	return result, nil
}

// installSet installs one set into a fresh installroot.
func (in Install) installSet(ctx context.Context, d *dnf, set string, pkgs []string) (Case, error) {
	root, err := os.MkdirTemp(d.dir, "root-")
	if err != nil {
		return Case{}, err
	}
	defer os.RemoveAll(root)

	start := time.Now()
	args := []string{
		"--noplugins",
		// The metadata makecache fetched stays valid for the whole run.
		"--setopt=metadata_expire=-1",
		// Package signatures are not what this suite tests: the store
		// verified the repos' metadata and checksums when it synced them,
		// and the empty installroot has no keys to check them against.
		"--setopt=gpgcheck=False",
		"--installroot=" + root,
		"install", "-y",
	}
	res, err := d.run(ctx, 0, append(args, pkgs...)...)
	if err != nil {
		return Case{}, fmt.Errorf("%w%s", err, stderrNote(res))
	}
	c := Case{Suite: in.Name(), Name: set, Status: Passed, Duration: time.Since(start).Round(time.Millisecond)}
	switch res.code {
	case 0:
	case 1: // dnf's "error": unresolvable, a conflict, a failed transaction
		c.Status, c.Message = Failed, res.output()
	default:
		return Case{}, fmt.Errorf("%w: dnf install %s (%s)%s", ErrBroken, strings.Join(pkgs, " "), res.state, stderrNote(res))
	}
	return c, nil
}

func (in Install) check(t Target) error {
	if len(in.Sets) == 0 {
		return fmt.Errorf("%w: no package sets", ErrConfig)
	}
	for set, pkgs := range in.Sets {
		if strings.TrimSpace(set) == "" || strings.Contains(set, "\n") {
			return fmt.Errorf("%w: bad set name %q", ErrConfig, set)
		}
		if len(pkgs) == 0 {
			return fmt.Errorf("%w: set %s: no packages", ErrConfig, set)
		}
		for _, p := range pkgs {
			// A spec starting with "-" would be read as a dnf option.
			if p == "" || strings.HasPrefix(p, "-") || strings.ContainsAny(p, " \n") {
				return fmt.Errorf("%w: set %s: bad package spec %q", ErrConfig, set, p)
			}
		}
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: dnf --installroot install needs root", ErrConfig)
	}
	return t.validate()
}
