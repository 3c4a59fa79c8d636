from .interface import Scheduler, Executor
from .scheduler import MesosSchedulerDriver
from .executor import MesosExecutorDriver
from .utils import encode_data, decode_data

__VERSION__ = '0.2.15'

__all__ = (
    'Scheduler',
    'MesosSchedulerDriver',
    'Executor',
    'MesosExecutorDriver',
    'encode_data',
    'decode_data',
)
