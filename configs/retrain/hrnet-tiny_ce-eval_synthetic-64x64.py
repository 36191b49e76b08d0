# Cross-entropy baseline evaluated with every metric (for comparisons).
_base_ = ['../baseline/hrnet-tiny_ce_synthetic-64x64.py', '../_base_/synthetic_eval.py']
