"""The data lifecycle: deleting executions and their tombstones."""

from stepmetrics.store.lifecycle.deletion import DELETE_LUA, DeleteKeys, Deleter, DeleteReply

__all__ = ["DELETE_LUA", "DeleteKeys", "DeleteReply", "Deleter"]
