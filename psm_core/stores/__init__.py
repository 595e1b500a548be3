"""Tier stores: Chroma for the persistent tiers, in-process buffers for sensory and working memory."""

from psm_core.stores.buffers import SensoryBuffer, WorkingMemory
from psm_core.stores.chroma import ChromaStore, user_key

__all__ = ["ChromaStore", "SensoryBuffer", "WorkingMemory", "user_key"]
