"""Typed calls that mypy refuses: each line marked ``# error`` must be an error, and only
those (tests/unit/test_typing.py)."""

from __future__ import annotations

from pydantic import BaseModel

import jobq


class EmailIn(BaseModel):
    to: str


class SmsIn(BaseModel):
    number: str


class Receipt(BaseModel):
    id: str


jq = jobq.JobQueue("sqlite:///typing.db")


@jq.job("email.send")
async def send_email(payload: EmailIn) -> Receipt:
    return Receipt(id=payload.to)


async def producer() -> None:
    await send_email.enqueue(SmsIn(number="1"))  # error
    await send_email.enqueue({"to": "a@example.com"})  # error
    await send_email.enqueue(EmailIn(to="a"), dleay=60)  # error
    sent = await send_email.enqueue(EmailIn(to="a"))
    count: int = await sent.result()  # error
    print(count)
    await jq.enqueue(send_email, SmsIn(number="1"))  # error
    with jobq.Client("http://127.0.0.1:8000") as client:
        client.enqueue(send_email, SmsIn(number="1"))  # error
