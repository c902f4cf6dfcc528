package repo

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
