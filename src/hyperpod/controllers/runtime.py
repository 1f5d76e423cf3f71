"""Moved to :mod:`hyperpod.runtime.machinery`; this name stays for code written before the move."""

from hyperpod.runtime.machinery import Controller as Controller
from hyperpod.runtime.machinery import Informer as Informer
from hyperpod.runtime.machinery import object_key as object_key
from hyperpod.runtime.machinery import record_event as record_event
from hyperpod.runtime.machinery import set_condition as set_condition
from hyperpod.runtime.machinery import split_key as split_key
