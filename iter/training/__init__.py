"""The training loop, optimisation, checkpoints and logging."""
