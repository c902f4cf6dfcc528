package activities

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/osflow/osflow/integrations/repo"
)

// SourceRetry is the source journal's entry for an operator's `osflow
// overlay retry`: the build a bypass was started with is new again for the
// next check, which starts a new bypass with it (or adds it).
const SourceRetry = "retry"

// HeldBuild is a vendor build a watch started a bypass with: no later
// check offers it again (so that no second bypass is started for it)
// until an operator retries it.
type HeldBuild struct {
	Source string    `json:"source"` // the configured source URL
	URL    string    `json:"url"`
	SHA256 string    `json:"sha256"`
	NEVRA  string    `json:"nevra"`
	Bypass string    `json:"bypass"` // the bypass's workflow ID
	Since  time.Time `json:"since"`
}

// File is the build's file name at its source.
func (h HeldBuild) File() string { return path.Base(h.URL) }

// Matches says whether what an operator typed names the build: its NEVRA,
// its file name, or its file's URL.
func (h HeldBuild) Matches(what string) bool {
	return what == h.NEVRA || what == h.NEVRA+".rpm" || what == h.File() || what == h.URL
}

// HeldBuilds lists the builds of an overlay's source journal that are
// held by their bypass, oldest first: the last entry of their build is the
// bypass (not a failed start, a retry, or a later sighting). retried lists
// those whose last entry is a retry: offered again at the next check.
func HeldBuilds(log []repo.SourceEntry) (held, retried []HeldBuild) {
	ix := indexJournal(log)
	for _, e := range ix.bySHA {
		b := HeldBuild{Source: e.Source, URL: e.URL, SHA256: e.SHA256, NEVRA: e.NEVRA, Bypass: e.Bypass, Since: e.Time}
		switch e.Action {
		case repo.SourceBypass:
			held = append(held, b)
		case SourceRetry:
			retried = append(retried, b)
		}
	}
	slices.SortFunc(held, cmpHeld)
	slices.SortFunc(retried, cmpHeld)
	return held, retried
}

func cmpHeld(a, b HeldBuild) int {
	if c := a.Since.Compare(b.Since); c != 0 {
		return c
	}
	return strings.Compare(a.NEVRA, b.NEVRA)
}

// RetryHeld records in the overlay's source journal that the held builds
// are to be offered again at the next check. Keyed by bypass and build: a
// repeated command records nothing twice.
func RetryHeld(ctx context.Context, st *repo.Store, overlay string, builds []HeldBuild) error {
	log, err := st.SourceLog(overlay)
	if err != nil {
		return err
	}
	var entries []repo.SourceEntry
	for _, b := range builds {
		key := "retry/" + b.Bypass + "/" + b.SHA256
		if slices.ContainsFunc(log, func(e repo.SourceEntry) bool { return e.Key == key }) {
			continue
		}
		entries = append(entries, repo.SourceEntry{Action: SourceRetry, Source: b.Source, URL: b.URL, SHA256: b.SHA256, NEVRA: b.NEVRA,
			Bypass: b.Bypass, Key: key})
	}
	if err := st.RecordSources(ctx, overlay, entries); err != nil {
		return fmt.Errorf("retry the held builds of overlay %s: %w", overlay, err)
	}
	return nil
}
