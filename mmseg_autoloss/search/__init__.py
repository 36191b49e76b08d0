"""Loss search: controllers, ledger, proxies and ``LossSearchRunner``."""
from .controllers import CONTROLLERS, build_controller  # noqa: F401
from .ledger import Ledger
from .lock import WorkDirLock, WorkDirLocked
from .loss_search_runner import LossSearchRunner, SearchInterrupted
from .proxy import make_proxy_config, run_proxy
from .proxy_hooks import FiniteLossGuardHook
from .settings import SearchSettings
from .workers import InfrastructureError

__all__ = ['CONTROLLERS', 'build_controller', 'Ledger', 'LossSearchRunner', 'make_proxy_config',
           'run_proxy', 'FiniteLossGuardHook', 'SearchSettings', 'WorkDirLock', 'WorkDirLocked',
           'SearchInterrupted', 'InfrastructureError']
