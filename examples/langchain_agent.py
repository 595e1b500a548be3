"""A LangChain v1 agent with PSM long-term memory and feedback, runnable offline.

    python examples/langchain_agent.py

The fake chat model stands in for a real one; set LC_MODEL (e.g. "openai:gpt-4o-mini") to run
the same code with any chat model ``init_chat_model`` knows. The store is a temp dir unless
PSM_HOME is set.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.memory import InMemorySaver

from langchain_psm import PSMFeedbackCallbackHandler, PSMMemoryMiddleware
from psm_core import PSM


class ShowSystemPrompt(BaseCallbackHandler):
    """Prints the system message the model receives (where PSM puts the recalled memories)."""

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kwargs: Any) -> None:
        system = [m.text for m in messages[0] if m.type == "system"]
        print("   model sees:", (system[0] if system else "(no system message)").replace("\n", "\n               "))


def chat_model() -> Any:
    if os.environ.get("LC_MODEL"):
        from langchain.chat_models import init_chat_model

        return init_chat_model(os.environ["LC_MODEL"])
    return FakeListChatModel(
        responses=["Congratulations on the move!", "You live in Porto.", "Sorry, Lisbon it is. Enjoy the pasteis de nata!"]
    )


def main() -> None:
    with PSM.local(os.environ.get("PSM_HOME") or tempfile.mkdtemp(prefix="psm-example-")) as psm:
        feedback = PSMFeedbackCallbackHandler(psm)
        memory = PSMMemoryMiddleware(psm, user_id="alice", feedback=feedback)
        agent = create_agent(
            chat_model(), middleware=[memory], system_prompt="You are a concise assistant.", checkpointer=InMemorySaver()
        )

        def say(text: str, thread: str) -> None:
            print(f"[{thread}] alice: {text}")
            config = {"configurable": {"thread_id": thread}, "callbacks": [feedback, ShowSystemPrompt()]}
            out = agent.invoke({"messages": [{"role": "user", "content": text}]}, config)
            print(f"[{thread}] agent: {out['messages'][-1].text}\n")

        say("I moved to Lisbon last spring with my dog Rex.", "monday")
        say("Where do I live these days?", "friday")  # a new conversation: PSM recalls Monday's turn
        say("No, that's wrong, I live in Lisbon.", "friday")  # the PSM reads this as a correction

        # the Lisbon memory reached the model, which said Porto anyway: no memory carried the error, so
        # the correction is recorded against the retrieval (memory None), and the memory is not blamed
        for event in psm.feedback_log.outcomes("alice"):
            target = f"memory {event['memory_id'][:8]}" if event["memory_id"] else f"retrieval {event['retrieval_id'][:8]}"
            print(f"feedback: {event['outcome']:<9} {target} (value {event['value']:+.1f})")


if __name__ == "__main__":
    main()
