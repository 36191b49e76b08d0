"""Loss search: controllers, ledger, proxies and LossSearchRunner (wired up once all parts land)."""
