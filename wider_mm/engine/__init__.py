"""Runner-side helpers: launching on GPUs or CPU processes."""
