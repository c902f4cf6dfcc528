// Package examples holds the example configurations and the spec files of
// the local upstream that osflow dev builds.
package examples

import "embed"

// DevConfig is dev.yaml, the configuration osflow dev runs with. Parse it
// with config.Parse("dev.yaml", DevConfig): relative paths then resolve
// against the current directory.
//
//go:embed dev.yaml
var DevConfig []byte

// Upstream holds upstream/<repo>/*.spec, the packages of osflow dev's local
// upstream: build it with upstream.BuildFS(ctx, Upstream, "upstream", dir).
// It is the same tree as dev.upstreamSpecs names, so osflow dev can work from
// a binary run outside the source tree.
//
//go:embed upstream
var Upstream embed.FS
