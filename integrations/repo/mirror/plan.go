package mirror

import (
	"github.com/osflow/osflow/integrations/repo"
)

// Item is one file of a snapshot tree that must be in the pool.
type Item struct {
	Path     string // href relative to the repo root
	Checksum repo.Checksum
	Size     int64 // as declared by the metadata
}

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
		n += s.Size
	}
	return n
}

// Pool answers whether content is already stored; *repo.Store is one.
type Pool interface {
	PoolHas(c repo.Checksum, size int64) bool
}

// PlanDownloads decides, without side effects, what must be downloaded for
// items to be in pool. Content shared by several items is fetched once. A
// sync interrupted earlier resumes here: what it stored is kept.
func PlanDownloads(pool Pool, items []Item) Plan {
	var p Plan
	type content struct {
		c    repo.Checksum
		size int64
	}
	planned := make(map[content]string, len(items))
	for _, it := range items {
		key := content{it.Checksum, it.Size}
		if first, dup := planned[key]; dup {
			p.Keep = append(p.Keep, Step{it, ReasonSameContent + first})
			continue
		}
		planned[key] = it.Path
		switch {
		case pool.PoolHas(it.Checksum, it.Size):
			p.Keep = append(p.Keep, Step{it, ReasonInPool})
		case pool.PoolHas(it.Checksum, -1):
			p.Fetch = append(p.Fetch, Step{it, ReasonSizeMismatch})
		default:
			p.Fetch = append(p.Fetch, Step{it, ReasonMissing})
		}
	}
	return p
}
