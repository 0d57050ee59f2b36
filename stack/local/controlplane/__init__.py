"""The local AWS endpoint: moto's API surface wrapped in our validate / answer / notify layer."""
