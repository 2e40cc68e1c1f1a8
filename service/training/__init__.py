"""Training: the refresh loop every replica runs (follow the version pointer, train when due under a
lock) and the training job it runs in a child process (fold, train, evaluate, gate, save, precompute)."""
