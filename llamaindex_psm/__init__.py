"""PSM memory for LlamaIndex chat engines and agents (``pip install 'psm-memory[llamaindex]'``).

```
PSMMemory            a BaseMemory: memory= of chat engines and agents (recent turns + recalled memories)
PSMMemoryBlock       a BaseMemoryBlock[str] for llama_index.core.memory.Memory(memory_blocks=[...])
PSMFeedbackHandler   instrumentation event handler: memories per LLM call, corrections → feedback log
FeedbackTracker      the feedback state of one conversation
```
All memory logic lives in :mod:`psm_core`; these classes only translate between the two.
"""

from __future__ import annotations

from psm_core.errors import MissingDependencyError

try:
    import llama_index.core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise MissingDependencyError("llama-index-core", "llamaindex") from exc

from llamaindex_psm.feedback import FeedbackTracker, PSMFeedbackHandler, install_feedback_handler, used_memory_ids
from llamaindex_psm.memory import PSMMemory
from llamaindex_psm.memory_block import PSMMemoryBlock

__all__ = [
    "FeedbackTracker",
    "PSMFeedbackHandler",
    "PSMMemory",
    "PSMMemoryBlock",
    "install_feedback_handler",
    "used_memory_ids",
]
