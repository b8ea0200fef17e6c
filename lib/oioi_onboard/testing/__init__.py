"""Builders for the tests and the benchmarks, never used by the app or the command."""
