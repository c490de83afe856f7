"""Benchmarks that print measured figures (`make bench`); they assert nothing."""
