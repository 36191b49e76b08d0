"""Kept so that ``from mmseg_autoloss.search import truncnorm`` keeps working:
the truncated normal lives in :mod:`.controllers.truncnorm` (PPO2's policy)."""
from .controllers.truncnorm import log_normalizer, log_prob, sample

__all__ = ['log_normalizer', 'log_prob', 'sample']
