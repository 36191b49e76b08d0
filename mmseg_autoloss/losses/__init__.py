"""Registered losses (importing a module registers its loss into MODELS)."""
from . import auto_seg_loss, boundary_recam_loss, jdt_loss, weighted_ce_loss  # noqa: F401
