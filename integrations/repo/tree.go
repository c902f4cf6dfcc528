package repo

import "fmt"

// Tree is what the snapshot of a distribution tree records besides its
// files: the .treeinfo it was made from and the variant repositories laid
// out under it, so that clients can be pointed at each variant.
type Tree struct {
	// Treeinfo is the sha256 of the tree's .treeinfo.
	Treeinfo string `json:"treeinfo"`
	Release  string `json:"release,omitempty"` // "Rocky Linux 9.4"
	Arch     string `json:"arch,omitempty"`
	// Newest is the newest timestamp of the tree: its build time or a
	// variant's newest metadata, whichever is later; a later sync may not
	// go back before it.
	Newest   int64         `json:"newest,omitempty"`
	Variants []TreeVariant `json:"variants"`
}

// TreeVariant is one variant repository of a tree.
type TreeVariant struct {
	UID  string `json:"uid"`
	Name string `json:"name,omitempty"`
	// Path is the directory holding its repodata/, relative to the tree
	// root; "." for the root.
	Path string `json:"path"`
	// Repomd is the sha256 of its repomd.xml.
	Repomd string `json:"repomd"`
}

// VariantRepo is the name a tree's variant goes by as a repository of its
// own, for test suites and dnf: the tree's name for a variant at the tree
// root, else <tree>-<variant UID>.
func VariantRepo(tree, uid, dir string) string {
	if dir == "." {
		return tree
	}
	return tree + "-" + uid
}

// ChannelTree returns the tree record of the snapshot of repo that channel
// serves; nil when the channel serves no release, the release has no
// snapshot of repo, or that snapshot is a plain repository.
func (s *Store) ChannelTree(channel, repo string) (*Tree, error) {
	id, err := s.Channel(channel)
	if err != nil || id == "" {
		return nil, err
	}
	rel, err := s.Release(id)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", channel, err)
	}
	snap, ok := rel.Repos[repo]
	if !ok {
		return nil, nil
	}
	rec, err := s.Snapshot(repo, snap)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", channel, err)
	}
	return rec.Tree, nil
}
