"""Shapes: a payload held to its JSON Schema or its Python type, each bad field named by its
JSON path in JSON's words; the schema's defaults filled in (nested, through $ref and allOf,
in arrays, in recursive schemas) without changing the value given."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from jobq.schemas import PythonShape, SchemaShape, ShapeMismatch, digest, shapes_of, with_defaults


class Node(BaseModel):
    name: str
    colour: str = "red"
    children: list[Node] = []


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str


@dataclass
class Point:
    x: int
    y: int = 0


def problems(shape: Any, value: Any) -> list[tuple[str, str]]:
    with pytest.raises(ShapeMismatch) as refused:
        shape.check(value)
    return [(p.field, p.message) for p in refused.value.problems]


def test_defaults_are_filled_in_nested_arrays_refs_and_recursive_schemas() -> None:
    schema = Node.model_json_schema()
    given = {"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]}
    kept = copy.deepcopy(given)
    filled = with_defaults(schema, given)
    assert filled == {
        "name": "a",
        "colour": "red",
        "children": [
            {
                "name": "b",
                "colour": "red",
                "children": [{"name": "c", "colour": "red", "children": []}],
            }
        ],
    }
    assert given == kept  # the value given is not changed
    mutable = {"type": "object", "properties": {"tags": {"default": []}}}
    first, second = with_defaults(mutable, {}), with_defaults(mutable, {})
    first["tags"].append("x")
    assert second == {"tags": []}  # each gets its own copy of a mutable default
    merged = {
        "allOf": [{"properties": {"a": {"default": 1}}}, {"$ref": "#/$defs/B"}],
        "$defs": {"B": {"properties": {"b": {"default": 2}}}},
    }
    assert with_defaults(merged, {"c": 3}) == {"a": 1, "b": 2, "c": 3}
    plain = {"type": "object", "properties": {"a": {"type": "string"}}}
    value = {"a": "x"}
    assert with_defaults(plain, value) is value  # nothing to fill: nothing walked or copied


def test_a_schema_shape_names_every_bad_field_in_json_words() -> None:
    shape = SchemaShape(Node.model_json_schema())
    assert set(problems(shape, {"children": [{"name": 5}, {}], "colour": None})) == {
        ("payload.name", "is required"),
        ("payload.colour", "must be a string, not null"),
        ("payload.children[0].name", "must be a string, not a number"),
        ("payload.children[1].name", "is required"),
    }
    bounded = SchemaShape(
        {
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 1}, "s": {"maxLength": 2}},
            "additionalProperties": False,
        }
    )
    assert set(problems(bounded, {"n": 0, "s": "abc", "x": 1})) == {
        ("payload.n", "must be greater than or equal to 1"),
        ("payload.s", "must have at most 2 characters"),
        ("payload", "has fields the schema does not allow: x"),
    }
    assert shape.check({"name": "a"}) == {"name": "a", "colour": "red", "children": []}


def test_a_python_shape_validates_dumps_and_loads_its_type() -> None:
    shape = PythonShape(Node)
    assert shape.check({"name": "a"}) == {"name": "a", "colour": "red", "children": []}
    assert shape.load({"name": "a"}) == Node(name="a")
    assert shape.to_json(Node(name="b")) == {"name": "b", "colour": "red", "children": []}
    assert problems(PythonShape(Strict), {"to": "x", "too": 1}) == [
        ("payload.too", "is not a field of this request")
    ]
    assert problems(PythonShape(Point), {"x": "one"}) == [
        ("payload.x", "must be an integer, not a string")
    ]
    assert PythonShape(Point).check({"x": 1}) == {"x": 1, "y": 0}
    assert PythonShape(Point).digest == digest(PythonShape(Point).schema)


def test_shapes_come_from_annotations_or_schemas_and_say_what_is_wrong() -> None:
    async def typed(payload: Node) -> Point: ...
    async def untyped(payload: dict[str, Any]) -> int: ...

    payload, result = shapes_of(typed, "t")
    assert isinstance(payload, PythonShape) and isinstance(result, PythonShape)
    assert shapes_of(untyped, "u") == (None, None)
    payload, result = shapes_of(untyped, "u", payload_schema={"type": "object"})
    assert isinstance(payload, SchemaShape) and result is None
    with pytest.raises(ValueError, match="payload_schema of 'u': not a valid JSON Schema"):
        shapes_of(untyped, "u", payload_schema={"type": 5})
    with pytest.raises(TypeError, match="a JSON Schema is a JSON object"):
        shapes_of(untyped, "u", payload_schema=["not", "a", "schema"])  # type: ignore[arg-type]
