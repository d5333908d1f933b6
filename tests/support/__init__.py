"""Helpers shared by the tests and the benchmarks: real services, seeding, readers."""
