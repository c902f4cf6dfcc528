package mirror

import (
	"github.com/osflow/osflow/integrations/repo"
)

// Item is one file of a snapshot tree that must be in the pool.
type Item struct {
	Path     string // href relative to the repo root
	Checksum repo.Checksum
	Size     int64 // as declared by the metadata, or unknownSize
}

// unknownSize is the Size of an item whose metadata declares none: a
// distribution tree's image, of which .treeinfo gives only a checksum.
const unknownSize = -1

// Reasons a Step gives.
const (
	ReasonMissing      = "missing"               // fetch: not in the pool
	ReasonSizeMismatch = "size mismatch in pool" // fetch: pool object has another size
	ReasonInPool       = "in pool"               // keep
	ReasonSameContent  = "same content as "      // keep: + the path fetched for it
)

// Step is one planned decision about an Item, with why.
type Step struct {
	Item
	Reason string
}

// Plan says which items to download and which the pool already covers.
type Plan struct {
	Fetch []Step
	Keep  []Step
}

// Bytes is the size of everything to fetch.
func (p Plan) Bytes() int64 {
	var n int64
	for _, s := range p.Fetch {
		n += max(s.Size, 0)
	}
	return n
}

// Pool answers whether content is already stored; *repo.Store is one.
type Pool interface {
	PoolHas(c repo.Checksum, size int64) bool
}

// poolSizer is a Pool that tells an object's size with one look, where
// PoolHas takes two to tell a missing object from one of another size.
type poolSizer interface {
	PoolSize(c repo.Checksum) (size int64, ok bool)
}

// PlanDownloads decides, without side effects, what must be downloaded for
// items to be in pool. Content shared by several items is fetched once. A
// sync interrupted earlier resumes here: what it stored is kept.
func PlanDownloads(pool Pool, items []Item) Plan {
	var p Plan
	pl := newPlanner(pool, len(items))
	for _, it := range items {
		if s, fetch := pl.step(it); fetch {
			p.Fetch = append(p.Fetch, s)
		} else {
			p.Keep = append(p.Keep, s)
		}
	}
	return p
}

// planner is PlanDownloads one item at a time, so that a sync can plan
// packages as primary.xml streams in. It remembers what it planned.
type planner struct {
	pool    Pool
	planned map[content]string // → the path first planned for it
}

// content is what a pool object holds, as far as the plan can tell.
type content struct {
	c    repo.Checksum
	size int64
}

func newPlanner(pool Pool, sizeHint int) *planner {
	return &planner{pool: pool, planned: make(map[content]string, sizeHint)}
}

// step decides about it and reports whether it must be fetched.
func (pl *planner) step(it Item) (s Step, fetch bool) {
	key := content{it.Checksum, it.Size}
	if first, dup := pl.planned[key]; dup {
		return Step{it, ReasonSameContent + first}, false
	}
	pl.planned[key] = it.Path
	var has, other bool // the pool has it, the pool has another size of it
	if ps, ok := pl.pool.(poolSizer); ok {
		size, found := ps.PoolSize(it.Checksum)
		known := it.Size != unknownSize
		has, other = found && (size == it.Size || !known), found && size != it.Size && known
	} else {
		has = pl.pool.PoolHas(it.Checksum, it.Size)
		other = !has && pl.pool.PoolHas(it.Checksum, -1)
	}
	switch {
	case has:
		return Step{it, ReasonInPool}, false
	case other:
		return Step{it, ReasonSizeMismatch}, true
	default:
		return Step{it, ReasonMissing}, true
	}
}
