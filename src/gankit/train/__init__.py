"""The one training loop and what surrounds it, a module each: training state and checkpoints, DDP, precision,
compilation, threads, logging, signals and sample grids."""
