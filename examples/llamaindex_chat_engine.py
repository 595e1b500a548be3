"""PSM memory in a LlamaIndex chat engine: what the user said on Monday reaches the LLM on Tuesday,
and a correction on Tuesday becomes negative feedback for the memory that misled the answer.

Runs offline: ``MockLLM`` echoes its prompt, so each reply shows exactly what the LLM received.
Swap in any LlamaIndex LLM (``OpenAI(model=...)``, ``Ollama(...)``): the rest stays the same.

    python examples/llamaindex_chat_engine.py [--home DIR]
"""

from __future__ import annotations

import argparse
import tempfile

from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM

from llamaindex_psm import PSMMemory
from psm_core import PSM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=None, help="PSM home (default: a fresh temporary directory)")
    args = parser.parse_args()
    home = args.home or tempfile.mkdtemp(prefix="psm-llamaindex-")
    llm = MockLLM()  # any LlamaIndex LLM works here

    with PSM.local(home) as psm:
        monday = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="monday")
        engine = SimpleChatEngine.from_defaults(llm=llm, memory=monday)
        for turn in ["I adopted a beagle named Pixel last month.", "My favourite food is spicy ramen."]:
            engine.chat(turn)

        tuesday = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="tuesday")
        engine = SimpleChatEngine.from_defaults(llm=llm, memory=tuesday)
        reply = engine.chat("What is my dog called?")
        print("--- what the LLM received on Tuesday (MockLLM echoes it) ---")
        print(reply)

        engine.chat("No, that's wrong: Pixel was my cat.")
        print("--- feedback captured through LlamaIndex instrumentation ---")
        # MockLLM's echo repeats every memory, so each counts as used by the answer; with a real LLM
        # only the memories the answer drew on are marked corrected.
        texts = {r.id: r.text for r in tuesday.user_memory.records()}
        for row in psm.feedback_log.outcomes("alice"):
            print(f"{row['outcome']:>9}  {row['value']:+.1f}  {texts.get(row['memory_id'], row['memory_id'])}")


if __name__ == "__main__":
    main()
