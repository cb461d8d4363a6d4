package main

import (
	"context"
	"flag"
)

// registerFeatureFlags adds the flags of features that need the API, the
// emulator or the actions (SPEC §1); each arrives with its feature.
func registerFeatureFlags(fs *flag.FlagSet, cfg *config) {}

// setupFeatures registers apsql's own statements with the engine.
func setupFeatures(ctx context.Context, sh *shell) error {

	return nil
}
