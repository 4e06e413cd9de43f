"""A chat app on ChatParrot: a long system prompt shared by every turn, the history kept by the
app, the answer streamed. Run ``parrot serve --embedded`` first.

    python examples/langchain_chat.py
"""

from __future__ import annotations

import sys
from typing import Any

from _common import model_args, parser
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from parrot_integrations.langchain import ChatParrot

SYSTEM = (
    "You are the help desk of the Riverside Public Library. Members may borrow up to ten books at a "
    "time for three weeks, renew twice online, and pay no late fees for children's books. The library "
    "opens at 9 am and closes at 8 pm on weekdays, 5 pm on Saturdays, and is closed on Sundays. "
    "Answer in one or two short sentences."
)
QUESTIONS = ["How many books can I borrow?", "And when are you open on Saturday?"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser("A chat app on ChatParrot", max_tokens=48).parse_args(argv)
    chat = ChatParrot(**model_args(args))
    prompt = ChatPromptTemplate([("system", SYSTEM), MessagesPlaceholder("history"), ("human", "{question}")])
    chain = prompt | chat
    history: list[BaseMessage] = []
    turns = []
    for question in QUESTIONS:
        print(f"> {question}")
        reply: Any = None
        for chunk in chain.stream({"history": history, "question": question}):
            print(chunk.content, end="", flush=True)
            reply = chunk if reply is None else reply + chunk
        print()
        usage = reply.usage_metadata or {}
        print(f"  ({usage.get('input_tokens')} prompt tokens, {usage['input_token_details']['cache_read']} from cache)")
        history += [HumanMessage(question), AIMessage(reply.content)]
        turns.append({"question": question, "answer": reply.content, "usage": usage})
    return {"turns": turns}


if __name__ == "__main__":
    main(sys.argv[1:])
