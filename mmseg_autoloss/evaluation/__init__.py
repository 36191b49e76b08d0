"""Evaluation metrics registered into MMSeg METRICS."""
