"""Loss search: controllers, ledger, proxies and ``LossSearchRunner``."""
from .controllers import CONTROLLERS, build_controller  # noqa: F401
from .ledger import Ledger
from .loss_search_runner import LossSearchRunner
from .proxy import make_proxy_config, run_proxy
from .proxy_hooks import FiniteLossGuardHook
from .settings import SearchSettings

__all__ = ['CONTROLLERS', 'build_controller', 'Ledger', 'LossSearchRunner', 'make_proxy_config',
           'run_proxy', 'FiniteLossGuardHook', 'SearchSettings']
