"""LCEL: a chat with per-session history in PSM plus the user's long-term memories as context, offline.

    python examples/langchain_rag.py

``PSMChatMessageHistory`` keeps each session's messages (and feeds long-term memory);
``PSMRetriever`` recalls what matters from every earlier session. The fake chat model stands in for a
real one; set LC_MODEL (e.g. "openai:gpt-4o-mini") to use any chat model ``init_chat_model`` knows.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from operator import itemgetter
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnablePassthrough
from langchain_core.runnables.history import RunnableWithMessageHistory

from langchain_psm import PSMChatMessageHistory, PSMRetriever, format_documents
from psm_core import PSM

warnings.filterwarnings("ignore", message=".*RunnableWithMessageHistory.*")  # deprecated upstream, still widely used


def chat_model() -> Any:
    if os.environ.get("LC_MODEL"):
        from langchain.chat_models import init_chat_model

        return init_chat_model(os.environ["LC_MODEL"])
    return FakeListChatModel(responses=["Good luck with the training!", "Tapering: cut volume by a third the last two weeks."])


def main() -> None:
    with PSM.local(os.environ.get("PSM_HOME") or tempfile.mkdtemp(prefix="psm-example-")) as psm:
        user = "alice"
        retriever = PSMRetriever(psm=psm, user_id=user, k=3)

        prompt = ChatPromptTemplate.from_messages(
            [
                ("system", "You are a running coach.\n{memories}"),
                MessagesPlaceholder("history"),
                ("human", "{input}"),
            ]
        )
        chain = RunnablePassthrough.assign(memories=itemgetter("input") | retriever | format_documents) | prompt | chat_model()
        chat = RunnableWithMessageHistory(
            chain,
            lambda session_id: PSMChatMessageHistory(user, session_id, psm=psm),
            input_messages_key="input",
            history_messages_key="history",
        )

        print(
            chat.invoke(
                {"input": "I signed up for the Porto marathon on November 9th."}, {"configurable": {"session_id": "week-1"}}
            ).content
        )
        question = "How should I taper before my race?"
        print("--- long-term memories recalled in a new session ---")
        print(format_documents(retriever.invoke(question)))
        print(chat.invoke({"input": question}, {"configurable": {"session_id": "week-6"}}).content)
        print("--- week-6 history ---")
        for message in PSMChatMessageHistory(user, "week-6", psm=psm).messages:
            print(f"{message.type}: {message.text}")


if __name__ == "__main__":
    main()
