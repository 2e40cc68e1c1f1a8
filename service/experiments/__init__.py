"""A/B tests between models with a holdout: definitions, sticky assignment, per-variant results (no HTTP, no Redis)."""
