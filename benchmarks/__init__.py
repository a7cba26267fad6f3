"""Benchmarks of Reactor against real PostgreSQL and Redis; see README.md here."""
