"""Benchmarks of toolrl (run from the repository root: ``python bench/<name>.py`` or ``bash bench/run_all.sh``)."""
