"""gameday: chaos testing and DR verification for multi-region AWS architectures."""
