"""The dispatchers under their earlier module name (see ``webhooks.dispatch``)."""

from ._flow import _pinned
from .dispatch import AsyncDispatcher, Dispatcher, DispatcherOptions, DispatchReport

__all__ = ["AsyncDispatcher", "DispatchReport", "Dispatcher", "DispatcherOptions", "_pinned"]
