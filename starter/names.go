package starter

import (
	"errors"
	"fmt"
	"strings"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
)

// The CLI refuses a mistyped name before it acts: a channel must be one
// the configuration names (a .repo file for another would only draw 404s,
// a rollback of it a workflow bound to fail), and a release one the
// store holds (a diff against nothing would list every package as
// removed).

// checkChannel refuses a channel the configuration does not name.
func checkChannel(cfg *config.Config, name string) error {
	if err := repo.CheckChannelName(name); err != nil {
		return UsageError{err}
	}
	known := []string{cfg.Channels.Daily, cfg.Channels.Testing, cfg.Channels.Production}
	for _, k := range known {
		if k == name {
			return nil
		}
	}
	return UsageError{fmt.Errorf("no channel %q%s: the channels are %s (channels: in %s)",
		name, config.DidYouMean(name, known), strings.Join(known, ", "), cfg.Path)}
}

// checkReleaseRef refuses what is neither a configured channel nor a
// release in the store. A configured channel that serves nothing yet
// stands for the empty release (the first promotion adds everything).
func checkReleaseRef(st *repo.Store, cfg *config.Config, ref string) error {
	if repo.CheckChannelName(ref) == nil {
		return checkChannel(cfg, ref)
	}
	_, err := st.Release(ref)
	if err == nil {
		return nil
	}
	if !errors.Is(err, repo.ErrNotFound) && !errors.Is(err, repo.ErrInvalid) {
		return err
	}
	hint := ""
	if rels, lerr := st.Releases(); lerr == nil {
		var ids []string
		for _, r := range rels {
			if strings.HasPrefix(r.ID, ref) {
				ids = append(ids, r.ID)
			}
		}
		if len(ids) == 1 {
			hint = fmt.Sprintf(" (did you mean %q?)", ids[0])
		}
	}
	return UsageError{fmt.Errorf("no release %q in the store%s: `osflow repo releases` lists them", ref, hint)}
}
