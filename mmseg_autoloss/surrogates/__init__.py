"""Surrogate math: parameterizations, relaxed metrics, boundary ops (pure torch)."""
