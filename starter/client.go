package starter

import (
	"context"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/config"
)

// dialTimeout bounds how long a CLI command waits for an unreachable cluster.
const dialTimeout = 15 * time.Second

// withClient loads the configuration, connects to Temporal and runs fn.
func (a *app) withClient(ctx context.Context, fn func(context.Context, *config.Config, client.Client) error) error {
	cfg, logger, err := a.setup()
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := Dial(dctx, cfg, logger, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(ctx, cfg, c)
}
