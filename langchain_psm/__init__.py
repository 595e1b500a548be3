"""LangChain adapters for PSM: thin wrappers, all memory logic stays in :mod:`psm_core`.

```
PSMMemory                       classic BaseMemory (ConversationChain, LLMChain with memory)
PSMChatMessageHistory           BaseChatMessageHistory (RunnableWithMessageHistory, LCEL)
PSMRetriever                    BaseRetriever returning memories as Documents (format_documents: a prompt block)
PSMMemoryMiddleware             AgentMiddleware for langchain.agents.create_agent
PSMFeedbackCallbackHandler      BaseCallbackHandler: injected memories -> LLM run -> feedback
AsyncPSMFeedbackCallbackHandler the same, as an AsyncCallbackHandler
```
Install with ``pip install 'psm-memory[langchain]'``; importing this package without the extra
raises :class:`psm_core.errors.MissingDependencyError` naming that command.
"""

from __future__ import annotations

from psm_core.errors import MissingDependencyError

try:
    import langchain.agents.middleware  # noqa: F401
    import langchain_classic.base_memory  # noqa: F401
    import langchain_core.retrievers  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise MissingDependencyError(exc.name or "langchain", "langchain") from exc

from langchain_psm.callbacks import AsyncPSMFeedbackCallbackHandler, PSMFeedbackCallbackHandler
from langchain_psm.chat_history import PSMChatMessageHistory
from langchain_psm.memory import PSMMemory
from langchain_psm.middleware import PSMMemoryMiddleware
from langchain_psm.retriever import PSMRetriever, format_documents, memory_to_document

__all__ = [
    "AsyncPSMFeedbackCallbackHandler",
    "PSMChatMessageHistory",
    "PSMFeedbackCallbackHandler",
    "PSMMemory",
    "PSMMemoryMiddleware",
    "PSMRetriever",
    "format_documents",
    "memory_to_document",
]
