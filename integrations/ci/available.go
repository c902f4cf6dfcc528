package ci

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Available asks dnf, with plugins off and nothing but the target's
// repos, which of the packages (NEVRAs, "name-[epoch:]version-release.arch")
// the channel offers, as a client would see it after a metadata refresh,
// and returns those it does not.
func Available(ctx context.Context, t Target, nevras []string) (missing []string, err error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	d, err := newDNF(t)
	if err != nil {
		return nil, err
	}
	defer d.close()
	var names []string
	for _, n := range nevras {
		names = append(names, nameOf(n))
	}
	res, err := d.run(ctx, 1<<20, append([]string{"--noplugins", "--refresh", "-q", "repoquery", "--available",
		"--qf", "%{name}-%{epoch}:%{version}-%{release}.%{arch}"}, names...)...)
	if err != nil {
		return nil, fmt.Errorf("dnf repoquery on %s: %w%s", t.BaseURL, err, stderrNote(res))
	}
	if res.code != 0 {
		return nil, fmt.Errorf("%w: dnf repoquery on %s failed (%s)%s", ErrBroken, t.BaseURL, res.state, stderrNote(res))
	}
	var seen []string
	for line := range strings.Lines(res.stdout) {
		seen = append(seen, normalNEVRA(strings.TrimSpace(line)))
	}
	for _, n := range nevras {
		if !slices.Contains(seen, normalNEVRA(n)) {
			missing = append(missing, n)
		}
	}
	return missing, nil
}

// normalNEVRA spells an epoch of 0 as none, as rpm prints it.
func normalNEVRA(n string) string {
	name, rest := splitName(n)
	return name + "-" + strings.TrimPrefix(rest, "0:")
}

// nameOf is the name of a NEVRA: everything before its last two dashes.
func nameOf(nevra string) string {
	name, _ := splitName(nevra)
	return name
}

func splitName(nevra string) (name, evra string) {
	i := strings.LastIndex(nevra, "-")
	if i <= 0 {
		return nevra, ""
	}
	j := strings.LastIndex(nevra[:i], "-")
	if j <= 0 {
		return nevra, ""
	}
	return nevra[:j], nevra[j+1:]
}
