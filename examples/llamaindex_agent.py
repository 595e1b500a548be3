"""PSM memory for a LlamaIndex agent: a ``FunctionAgent`` with a tool remembers the user across runs.

Runs offline: ``MockFunctionCallingLLM`` (LlamaIndex's testing LLM) calls the agent's tools and then
answers; swap in any function-calling LLM (``OpenAI(model=...)``, ``Anthropic(...)``) unchanged.

    python examples/llamaindex_agent.py [--home DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.llms.mock import MockFunctionCallingLLM

from llamaindex_psm import PSMMemory
from psm_core import PSM


def weather(city: str = "Lisbon") -> str:  # the mock LLM calls tools with their defaults; a real one
    """Today's weather in a city."""  # would fill ``city`` from the recalled memory
    return f"Sunny and 24°C in {city}."


async def main(home: str) -> None:
    llm = MockFunctionCallingLLM()  # any function-calling LlamaIndex LLM works here
    agent = FunctionAgent(tools=[weather], llm=llm, system_prompt="You are a helpful assistant.")
    with PSM.local(home) as psm:
        first = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="monday")
        await agent.run(user_msg="I moved to Lisbon in March and I cycle to work.", memory=first)

        second = PSMMemory.from_defaults(psm=psm, user_id="alice", session_id="tuesday")
        answer = await agent.run(user_msg="Should I cycle to work today?", memory=second)
        print("--- memories the agent's LLM received on Tuesday ---")
        print(second.last_recall.format_context(second.header) if second.last_recall else "(none)")
        print("--- Tuesday's session ---")
        for message in second.get_all():
            print(f"{message.role.value:>9}: {message.content or [b.block_type for b in message.blocks]}")
        print("--- answer ---")
        print(answer)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=None, help="PSM home (default: a fresh temporary directory)")
    args = parser.parse_args()
    asyncio.run(main(args.home or tempfile.mkdtemp(prefix="psm-llamaindex-")))
