"""Loss search: controllers, ledger, LossSearchRunner."""
