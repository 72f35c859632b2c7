"""Pure computation on arrays and profiles: no storage, no I/O, estimator-style objects."""
