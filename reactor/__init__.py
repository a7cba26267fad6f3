"""Reactor: turns customer interactions into rewards, exactly once and explainably."""

__version__ = "0.1.0"
