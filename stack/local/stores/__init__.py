"""The retail stores' services: each store's point of sale on its Outpost, and the cloud's sales ledger."""
