"""Typed calls that mypy accepts (tests/unit/test_typing.py runs mypy on this file)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

import jobq


class EmailIn(BaseModel):
    to: str
    subject: str = "hello"


class Receipt(BaseModel):
    id: str


@dataclass
class Resize:
    width: int


jq = jobq.JobQueue("sqlite:///typing.db")


@jq.job("email.send")
async def send_email(payload: EmailIn) -> Receipt:
    return Receipt(id=payload.to)


@jq.job("image.resize")
def resize(payload: Resize, ctx: jobq.JobContext) -> int:
    return payload.width


async def producer() -> None:
    sent = await send_email.enqueue(EmailIn(to="a@example.com"), delay=60, queue="mail")
    receipt: Receipt = await sent.result(timeout=30)
    print(receipt.id)
    done = await resize.enqueue(Resize(width=10))
    width: int = await done.result()
    print(width)
    await jq.enqueue(send_email, EmailIn(to="b@example.com"))
    await jq.enqueue("email.send", {"to": "c@example.com"})  # plain calls keep working
    with jobq.Client("http://127.0.0.1:8000") as client:
        client.enqueue(send_email, EmailIn(to="d@example.com"))
        client.enqueue("email.send", {"to": "e@example.com"})
