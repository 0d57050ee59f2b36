"""The game-day suites: one scenario per file."""
