"""The apps: consumers of runs (train/resume, evaluate, generate, translate, export, report, study, bench), each
called by a thin CLI command."""
