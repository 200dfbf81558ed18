"""Typed job types for the typed-jobs tests (``--app tests.apps.typed:jq``): a pydantic model,
a dataclass, a TypedDict and a plain handler with a JSON Schema; the results say what each
handler received."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from jobq import JobContext, JobQueue


class Item(BaseModel):
    sku: str
    quantity: int = Field(1, ge=1)


class OrderIn(BaseModel):
    customer: str
    items: list[Item]
    express: bool = False
    note: str = "none"


class OrderOut(BaseModel):
    customer: str
    units: int


@dataclass
class Resize:
    url: str
    width: int = 100
    tags: list[str] = field(default_factory=list)


class Ping(TypedDict):
    host: str
    count: int


GREET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "greeting": {"type": "string", "default": "hello"},
    },
    "required": ["name"],
    "additionalProperties": False,
}

jq = JobQueue(builtins=False)


@jq.job("order.place")
async def place(payload: OrderIn) -> OrderOut:
    assert isinstance(payload, OrderIn), payload
    return OrderOut(customer=payload.customer, units=sum(i.quantity for i in payload.items))


@jq.job("image.resize")
def resize(payload: Resize, ctx: JobContext) -> dict[str, Any]:
    assert isinstance(payload, Resize), payload
    return {"width": payload.width, "tags": payload.tags}


@jq.job("net.ping")
async def ping(payload: Ping) -> int:
    return payload["count"]


@jq.job("greet", payload_schema=GREET_SCHEMA)
async def greet(payload: dict[str, Any]) -> str:
    return f"{payload['greeting']}, {payload['name']}"


#: a later version of the app: order.place's payload gained a required field
later = JobQueue(builtins=False)


class OrderInV2(BaseModel):
    customer: str
    items: list[Item]
    channel: str


@later.job("order.place")
async def place_v2(payload: OrderInV2) -> None:
    return None
