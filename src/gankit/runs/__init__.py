"""Run directories: what training writes and the apps read (config, snapshots)."""
