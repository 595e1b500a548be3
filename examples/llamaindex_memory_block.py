"""PSM as a memory block of LlamaIndex's ``Memory``: recent turns stay in Memory's queue, turns it
flushes are observed by the PSM, and every request gets the memories recalled for the latest message.

Runs offline with ``MockLLM`` (it echoes its prompt, showing the ``<psm_memory>`` block it received);
swap in any LlamaIndex LLM unchanged.

    python examples/llamaindex_memory_block.py [--home DIR]
"""

from __future__ import annotations

import argparse
import tempfile

from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.memory import Memory

from llamaindex_psm import PSMMemoryBlock
from psm_core import PSM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=None, help="PSM home (default: a fresh temporary directory)")
    args = parser.parse_args()
    home = args.home or tempfile.mkdtemp(prefix="psm-llamaindex-")

    with PSM.local(home) as psm:
        # a small queue so this short demo flushes turns to the block; real apps keep the default
        memory = Memory.from_defaults(session_id="monday", token_limit=60, memory_blocks=[PSMMemoryBlock(psm=psm, user_id="bob")])
        engine = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=8), memory=memory)
        for turn in ["I play bass in a jazz band on Fridays.", "I am allergic to peanuts.", "Tell me a joke.", "Another one!"]:
            engine.chat(turn)

        memory = Memory.from_defaults(session_id="tuesday", memory_blocks=[PSMMemoryBlock(psm=psm, user_id="bob")])
        engine = SimpleChatEngine.from_defaults(llm=MockLLM(), memory=memory)
        print("--- what the LLM received on Tuesday (MockLLM echoes it) ---")
        print(engine.chat("Can you suggest a snack for Friday's gig?"))


if __name__ == "__main__":
    main()
