package mirror

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo"
)

// fakePool holds objects by checksum with their size.
type fakePool map[repo.Checksum]int64

func (p fakePool) PoolHas(c repo.Checksum, size int64) bool {
	got, ok := p[c]
	return ok && (size < 0 || got == size)
}

// sizedPool is a fakePool that also tells sizes, as *repo.Store does.
type sizedPool struct{ fakePool }

func (p sizedPool) PoolSize(c repo.Checksum) (int64, bool) {
	size, ok := p.fakePool[c]
	return size, ok
}

func TestPlanDownloads(t *testing.T) {
	sum := func(s string) repo.Checksum { return repo.Checksum{Algo: "sha256", Hex: s} }
	item := func(path, hex string, size int64) Item { return Item{Path: path, Checksum: sum(hex), Size: size} }
	pool := fakePool{sum("aa"): 10, sum("bb"): 99, sum("cc"): 5}
	tests := []struct {
		name  string
		items []Item
		want  Plan
	}{
		{name: "nothing", want: Plan{}},
		{
			name:  "in pool",
			items: []Item{item("a.rpm", "aa", 10), item("c.xml", "cc", 5)},
			want:  Plan{Keep: []Step{{item("a.rpm", "aa", 10), ReasonInPool}, {item("c.xml", "cc", 5), ReasonInPool}}},
		},
		{
			name:  "missing",
			items: []Item{item("d.rpm", "dd", 7), item("e.xml", "ee", 3)},
			want:  Plan{Fetch: []Step{{item("d.rpm", "dd", 7), ReasonMissing}, {item("e.xml", "ee", 3), ReasonMissing}}},
		},
		{
			name:  "size mismatch in pool",
			items: []Item{item("b.rpm", "bb", 10)},
			want:  Plan{Fetch: []Step{{item("b.rpm", "bb", 10), ReasonSizeMismatch}}},
		},
		{
			name:  "same content twice is fetched once",
			items: []Item{item("x/d.rpm", "dd", 7), item("y/d.rpm", "dd", 7), item("a.rpm", "aa", 10), item("z/a.rpm", "aa", 10)},
			want: Plan{
				Fetch: []Step{{item("x/d.rpm", "dd", 7), ReasonMissing}},
				Keep: []Step{
					{item("y/d.rpm", "dd", 7), ReasonSameContent + "x/d.rpm"},
					{item("a.rpm", "aa", 10), ReasonInPool},
					{item("z/a.rpm", "aa", 10), ReasonSameContent + "a.rpm"},
				},
			},
		},
		{
			name:  "same checksum, another size: both fetched, the liar fails verification",
			items: []Item{item("x/d.rpm", "dd", 7), item("y/d.rpm", "dd", 8)},
			want:  Plan{Fetch: []Step{{item("x/d.rpm", "dd", 7), ReasonMissing}, {item("y/d.rpm", "dd", 8), ReasonMissing}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, PlanDownloads(pool, tt.items))
			require.Equal(t, tt.want, PlanDownloads(sizedPool{pool}, tt.items))
		})
	}
	require.Equal(t, int64(7+8), PlanDownloads(pool, []Item{item("x", "dd", 7), item("y", "ee", 8), item("a", "aa", 10)}).Bytes())
}
