"""The training loop, checkpoints, EMA, logging and run directories."""
