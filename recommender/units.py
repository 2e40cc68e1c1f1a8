"""Units shared across the library: one home for each constant."""

SECONDS_PER_DAY = 86_400.0
