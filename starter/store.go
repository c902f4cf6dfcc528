package starter

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
)

// openStore opens the configured store for a CLI command, which never
// creates one: repo.Open makes the directories it misses, which the worker
// and `osflow dev` need on their first start, but a command run outside the
// project with the embedded dev configuration would make ./.osflow/store
// wherever it runs and then report every channel as serving nothing.
func (a *app) openStore(cfg *config.Config) (*repo.Store, error) {
	if _, err := os.Stat(cfg.Store); errors.Is(err, fs.ErrNotExist) {
		return nil, a.noStore(cfg)
	} else if err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.Store, err)
	}
	st, err := repo.Open(cfg.Store)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.Store, err)
	}
	return st, nil
}

// noStore explains a missing store: with the embedded dev configuration,
// where osflow looked for a configuration; otherwise, who creates it.
func (a *app) noStore(cfg *config.Config) error {
	if a.embedded {
		cwd, _ := os.Getwd()
		return UsageError{fmt.Errorf(`no osflow project here: osflow looked for a configuration in --config, $OSFLOW_CONFIG (unset) and ./osflow.yaml (none in %s), so the embedded dev configuration applies, and its store %s does not exist
run osflow in the project directory (where `+"`make run`"+` keeps .osflow/), or name the configuration with --config FILE or OSFLOW_CONFIG=FILE`,
			cwd, cfg.Store)}
	}
	return UsageError{fmt.Errorf("store %s (store: in %s) does not exist: `osflow worker` creates it at its start and `osflow sync --wait` fills it; or it is not mounted on this host",
		cfg.Store, cfg.Path)}
}
