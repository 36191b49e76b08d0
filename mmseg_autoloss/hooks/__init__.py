"""Hooks registered into MMSeg HOOKS."""
