"""The `world` fixture (see trace_world.py, named uniquely so that imports never meet another
folder's conftest)."""

from trace_world import world

__all__ = ["world"]
