"""Hooks registered into MMSeg HOOKS."""
from .final_metrics_hook import FinalMetricsHook
from .surrogate_monitor_hook import SurrogateMonitorHook

__all__ = ['FinalMetricsHook', 'SurrogateMonitorHook']
