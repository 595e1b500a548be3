"""A classic ConversationChain with PSM memory (drop-in for ConversationBufferMemory), offline.

    python examples/langchain_chain.py

The fake chat model stands in for a real one; set LC_MODEL (e.g. "openai:gpt-4o-mini") to use any
chat model ``init_chat_model`` knows. The store is a temp dir unless PSM_HOME is set.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import Any

from langchain_classic.chains import ConversationChain
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from langchain_psm import PSMMemory
from psm_core import PSM

warnings.filterwarnings("ignore", message=".*ConversationChain.*")  # deprecated upstream, still widely used


def chat_model() -> Any:
    if os.environ.get("LC_MODEL"):
        from langchain.chat_models import init_chat_model

        return init_chat_model(os.environ["LC_MODEL"])
    return FakeListChatModel(responses=["Noted, peanuts are off the menu.", "Try the grilled sardines; no peanuts there."])


def main() -> None:
    with PSM.local(os.environ.get("PSM_HOME") or tempfile.mkdtemp(prefix="psm-example-")) as psm:
        llm = chat_model()
        first = ConversationChain(llm=llm, memory=PSMMemory(psm=psm, user_id="alice", session_id="day-1"))
        print(first.invoke({"input": "I'm allergic to peanuts, please remember that."})["response"])

        later = ConversationChain(llm=llm, memory=PSMMemory(psm=psm, user_id="alice", session_id="day-2"))
        out = later.invoke({"input": "What should I order at a Portuguese restaurant?"})
        print("--- memory given to the model in the new session ---")
        print(out["history"])
        print("--- answer ---")
        print(out["response"])


if __name__ == "__main__":
    main()
