"""Moved to :mod:`hyperpod.runtime.context`; this name stays for code written before the move."""

from hyperpod.runtime.context import Component as Component
from hyperpod.runtime.context import ControlPlaneContext as ControlPlaneContext
