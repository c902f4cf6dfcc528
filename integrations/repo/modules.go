package repo

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"gopkg.in/yaml.v3"
)

// This file reads the module streams and defaults that upstream publishes
// in modules.yaml (EL8/EL9 AppStream), which snapshots keep byte for byte,
// and tells what a release changes in them: a release whose only change is
// a module's default stream moving from 8 to 10 changes what
// `dnf module install nodejs` installs.

// Modules is what a snapshot's modules.yaml offers: the newest version of
// each stream ("nodejs:10" -> "8030020200716") and each module's default
// stream ("nodejs" -> "10").
type Modules struct {
	Streams  map[string]string
	Defaults map[string]string
}

// modulesDoc is one YAML document of modules.yaml; other documents
// (obsoletes, translations) are skipped.
type modulesDoc struct {
	Document string `yaml:"document"`
	Data     struct {
		Name    string `yaml:"name"`
		Stream  string `yaml:"stream"`
		Version string `yaml:"version"`
		Module  string `yaml:"module"`
	} `yaml:"data"`
}

// SnapshotModules reads the module streams and defaults of a snapshot, a
// tree's of all its variants; a snapshot without modules.yaml has none.
func (s *Store) SnapshotModules(repo, id string) (Modules, error) {
	m := Modules{Streams: map[string]string{}, Defaults: map[string]string{}}
	if id == "" {
		return m, nil
	}
	// A tree's variants add up: streams and defaults are per module.
	if _, err := s.readMetadata(repo, id, "modules", func(r io.Reader) error {
		if err := m.read(r); err != nil {
			return fmt.Errorf("%w: %w", ErrBadContent, err)
		}
		return nil
	}); err != nil {
		return m, fmt.Errorf("modules of snapshot %s/%s: %w", repo, id, err)
	}
	return m, nil
}

func (m Modules) read(r io.Reader) error {
	dec := yaml.NewDecoder(r)
	for n := 1; ; n++ {
		var doc modulesDoc
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("document %d: %w", n, err)
		}
		d := doc.Data
		switch doc.Document {
		case "modulemd":
			if d.Name == "" || d.Stream == "" {
				return fmt.Errorf("document %d: a modulemd without name or stream", n)
			}
			key := d.Name + ":" + d.Stream
			if cur, ok := m.Streams[key]; !ok || compareVersion(d.Version, cur) > 0 {
				m.Streams[key] = d.Version
			}
		case "modulemd-defaults":
			if d.Module == "" {
				return fmt.Errorf("document %d: a modulemd-defaults without module", n)
			}
			if d.Stream != "" {
				m.Defaults[d.Module] = d.Stream
			}
		}
	}
}

// compareVersion orders module versions, decimal numbers of any length.
func compareVersion(a, b string) int {
	return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b))
}

// ModuleChange is one change of a repo's module streams or defaults.
type ModuleChange struct {
	Repo   string
	Module string // "nodejs:10" for a stream, "nodejs" for a default
	Kind   string // "stream added", "stream removed", "stream updated", "default"
	From   string `json:",omitempty"` // version, or default stream; "" when none
	To     string `json:",omitempty"`
}

func (c ModuleChange) String() string {
	switch c.Kind {
	case "stream added":
		return fmt.Sprintf("[%s] + module %s (version %s)", c.Repo, c.Module, c.To)
	case "stream removed":
		return fmt.Sprintf("[%s] - module %s (version %s)", c.Repo, c.Module, c.From)
	case "stream updated":
		return fmt.Sprintf("[%s] ^ module %s version %s -> %s", c.Repo, c.Module, c.From, c.To)
	}
	return fmt.Sprintf("[%s] default stream of %s: %s -> %s", c.Repo, c.Module, orNone(c.From), orNone(c.To))
}

// DiffModules compares module streams and defaults, sorted by module.
func DiffModules(repo string, a, b Modules) []ModuleChange {
	var out []ModuleChange
	for _, k := range slices.Sorted(maps.Keys(a.Streams)) {
		if _, ok := b.Streams[k]; !ok {
			out = append(out, ModuleChange{Repo: repo, Module: k, Kind: "stream removed", From: a.Streams[k]})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b.Streams)) {
		switch from, ok := a.Streams[k]; {
		case !ok:
			out = append(out, ModuleChange{Repo: repo, Module: k, Kind: "stream added", To: b.Streams[k]})
		case from != b.Streams[k]:
			out = append(out, ModuleChange{Repo: repo, Module: k, Kind: "stream updated", From: from, To: b.Streams[k]})
		}
	}
	union := maps.Clone(a.Defaults)
	maps.Copy(union, b.Defaults)
	names := slices.Sorted(maps.Keys(union))
	for _, k := range names {
		if a.Defaults[k] != b.Defaults[k] {
			out = append(out, ModuleChange{Repo: repo, Module: k, Kind: "default", From: a.Defaults[k], To: b.Defaults[k]})
		}
	}
	slices.SortStableFunc(out, func(x, y ModuleChange) int { return cmp.Compare(x.Module, y.Module) })
	return out
}

// ReleaseModuleChanges lists the module changes of every repo d names,
// by repo.
func (s *Store) ReleaseModuleChanges(d ReleaseDiff) ([]ModuleChange, error) {
	from, to := Release{}, Release{}
	var err error
	if CheckReleaseID(d.From) == nil {
		if from, err = s.Release(d.From); err != nil {
			return nil, fmt.Errorf("module changes of %s: %w", d.From, err)
		}
	}
	if CheckReleaseID(d.To) == nil {
		if to, err = s.Release(d.To); err != nil {
			return nil, fmt.Errorf("module changes of %s: %w", d.To, err)
		}
	}
	var out []ModuleChange
	for _, repo := range slices.Sorted(maps.Keys(d.Repos)) {
		a, err := s.SnapshotModules(repo, from.Repos[repo])
		if err != nil {
			return nil, err
		}
		b, err := s.SnapshotModules(repo, to.Repos[repo])
		if err != nil {
			return nil, err
		}
		out = append(out, DiffModules(repo, a, b)...)
	}
	return out, nil
}
