"""Evaluation metrics registered into MMSeg METRICS."""
from . import functional
from .seg_metric import SegMetric

__all__ = ['SegMetric', 'functional']
