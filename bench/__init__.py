"""Benchmarks against real servers (see docs/performance.md); never run by the tests."""
