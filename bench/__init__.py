"""Benchmarks (run by hand, never timed tests) and the demo data generator they share."""
