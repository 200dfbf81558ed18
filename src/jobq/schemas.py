"""What a job type's payload and result must look like, and the check that holds a value to it.

A ``Shape`` is a JSON Schema and its check. Two kinds:

- ``PythonShape``: from a handler's annotation, a pydantic model, a dataclass or a ``TypedDict``
  (through pydantic's ``TypeAdapter``). The handler receives the validated object; what is stored
  is that object dumped back to JSON, so the defaults are filled in at submit and what is stored
  is what runs.
- ``SchemaShape``: from a JSON Schema (``payload_schema=`` in code, or one that another process
  published), checked by ``jsonschema_rs``; its ``default`` values are filled in. An API process
  without the handlers' code checks with these.

A value that does not fit raises ``ShapeMismatch`` naming every bad field by its JSON path
(``payload.items[2].sku``) in JSON's words.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import itertools
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from typing_extensions import is_typeddict  # knows typing's TypedDict and its own

from jobq.domain.errors import FieldProblem
from jobq.json_words import in_json_words, json_kind, json_path

if TYPE_CHECKING:
    import jsonschema_rs
    from pydantic import ValidationError

# pydantic and jsonschema_rs are imported when a shape is first made: `import jobq` (a producer
# that enqueues plain dicts) loads neither.

JSONSchema = dict[str, Any]

#: a mismatch names at most this many fields (a payload of 10,000 bad items is not 10,000 lines)
MAX_PROBLEMS = 50


class ShapeMismatch(Exception):
    """A value does not fit its shape: ``problems`` name each bad field."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = list(problems)
        super().__init__(summary(self.problems))


def summary(problems: Sequence[FieldProblem], most: int = 5) -> str:
    text = "; ".join(f"{p.field}: {p.message}" for p in problems[:most])
    if len(problems) > most:
        text += f"; and {len(problems) - most} more"
    return text


def digest(schema: Mapping[str, Any]) -> str:
    """A short name for a schema's content: two processes publishing one schema agree on it."""
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Shape:
    """A JSON Schema and the check of a value against it."""

    schema: JSONSchema
    digest: str

    def check(self, value: Any, root: str = "payload") -> Any:
        """``value`` (JSON) as it is to be stored: checked, defaults filled in."""
        raise NotImplementedError

    def load(self, value: Any, root: str = "payload") -> Any:
        """What the handler receives for the stored ``value``."""
        raise NotImplementedError

    def dump(self, value: Any, root: str = "result") -> Any:
        """A handler's return ``value`` as JSON, checked."""
        raise NotImplementedError

    def to_json(self, value: Any) -> Any:
        """A typed ``value`` (a model, a dataclass) as JSON, unchecked; JSON as it is."""
        return value


class PythonShape(Shape):
    """The shape of a Python type pydantic can validate (a model, a dataclass, a TypedDict)."""

    def __init__(self, python_type: Any, *, result: bool = False) -> None:
        from pydantic import TypeAdapter, ValidationError

        self._invalid = ValidationError
        self.python_type = python_type
        self._adapter: TypeAdapter[Any] = TypeAdapter(python_type)
        self.schema = self._adapter.json_schema(mode="serialization" if result else "validation")
        self.digest = digest(self.schema)

    def load(self, value: Any, root: str = "payload") -> Any:
        try:
            return self._adapter.validate_python(value)
        except self._invalid as exc:
            raise ShapeMismatch(_pydantic_problems(exc, root)) from None

    def check(self, value: Any, root: str = "payload") -> Any:
        return self._adapter.dump_python(self.load(value, root), mode="json")

    def dump(self, value: Any, root: str = "result") -> Any:
        return self.check(value, root)

    def to_json(self, value: Any) -> Any:
        if isinstance(value, Mapping | list | str | int | float | bool) or value is None:
            return value
        return self._adapter.dump_python(value, mode="json")


class SchemaShape(Shape):
    """The shape a JSON Schema describes; ``ValueError`` if ``schema`` is not one."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        if not isinstance(schema, Mapping):
            raise TypeError(f"a JSON Schema is a JSON object (a dict), not {type(schema).__name__}")
        import jsonschema_rs

        self.schema = dict(schema)
        try:
            jsonschema_rs.meta.validate(self.schema)
            self._validator = jsonschema_rs.validator_for(self.schema)
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f"not a valid JSON Schema: {first_line}") from None
        self.digest = digest(self.schema)
        self._defaults = Defaults.compile(self.schema)

    def check(self, value: Any, root: str = "payload") -> Any:
        if not self._validator.is_valid(value):
            errors = itertools.islice(self._validator.iter_errors(value), MAX_PROBLEMS)
            problems = [_schema_problem(error, root) for error in errors]
            raise ShapeMismatch(problems)
        return value if self._defaults is None else self._defaults.fill(value)

    load = check

    def dump(self, value: Any, root: str = "result") -> Any:
        return self.check(value, root)


def _pydantic_problems(exc: ValidationError, root: str) -> list[FieldProblem]:
    return [
        FieldProblem(json_path(root, error["loc"]), in_json_words(error))
        for error in exc.errors(include_url=False)[:MAX_PROBLEMS]
    ]


def _schema_problem(error: jsonschema_rs.ValidationError, root: str) -> FieldProblem:
    import jsonschema_rs

    path: list[str | int] = list(error.instance_path)
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        return FieldProblem(json_path(root, [*path, str(kind.property)]), "is required")
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Type):
        wanted = " or ".join(_TYPE_WORDS.get(t, t) for t in _type_names(kind.types))
        return FieldProblem(
            json_path(root, path), f"must be {wanted}, not {json_kind(error.instance)}"
        )
    bound = _BOUNDS.get(type(kind).__name__)
    if bound is not None:
        return FieldProblem(json_path(root, path), bound.format(getattr(kind, "limit", "?")))
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
        extra = ", ".join(str(p) for p in kind.unexpected)
        return FieldProblem(json_path(root, path), f"has fields the schema does not allow: {extra}")
    return FieldProblem(json_path(root, path), error.message)


def _type_names(types: Any) -> list[str]:
    return [str(t) for t in (types if isinstance(types, list | tuple) else [types])]


#: the bounds a JSON Schema sets, said as pydantic's are (``in_json_words``)
_BOUNDS = {
    "Minimum": "must be greater than or equal to {}",
    "Maximum": "must be less than or equal to {}",
    "ExclusiveMinimum": "must be greater than {}",
    "ExclusiveMaximum": "must be less than {}",
    "MinLength": "must have at least {} characters",
    "MaxLength": "must have at most {} characters",
    "MinItems": "must have at least {} items",
    "MaxItems": "must have at most {} items",
}

_TYPE_WORDS = {
    "object": "a JSON object",
    "array": "a JSON array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


@dataclass(slots=True)
class Defaults:
    """Where a JSON Schema gives defaults, found once (``of``) so that filling them in walks
    only the parts of a value that have any: the ``default`` of each property an object
    lacks, in nested objects and in arrays' items too, through local ``$ref`` and ``allOf``."""

    #: (property, its default) for the properties of an object
    given: list[tuple[str, Any]] = field(default_factory=list)
    #: (property, what its value holds) for properties whose value has defaults inside
    inside: list[tuple[str, Defaults]] = field(default_factory=list)
    #: what each item of an array holds
    items: Defaults | None = None

    @classmethod
    def of(
        cls, schema: Any, root: Mapping[str, Any], refs: dict[str, Defaults] | None = None
    ) -> Defaults | None:
        """None where nothing under ``schema`` has a default (so nothing is walked). A
        ``$ref`` is compiled once (``refs``), so a recursive schema makes a cycle, not an
        endless tree; filling walks the value, which ends."""
        if not isinstance(schema, Mapping):
            return None
        refs = {} if refs is None else refs
        found = cls()
        ref = schema.get("$ref")
        parts = [p for p in schema.get("allOf", ()) if isinstance(p, Mapping)]
        nested = [cls.of(part, root, refs) for part in parts]
        if isinstance(ref, str):
            nested.append(cls._of_ref(ref, root, refs))
        for inner in nested:
            if inner is not None:
                found.given += inner.given
                found.inside += inner.inside
                found.items = found.items or inner.items
        properties = schema.get("properties")
        if isinstance(properties, Mapping):
            for name, sub in properties.items():
                default = _default_of(sub, root)
                if default is not _NONE:
                    found.given.append((name, default))
                inner = cls._of_part(sub, root, refs)
                if inner is not None:
                    found.inside.append((name, inner))
        items = cls._of_part(schema.get("items"), root, refs)
        found.items = items or found.items
        return found if (found.given or found.inside or found.items) else None

    @classmethod
    def _of_part(
        cls, schema: Any, root: Mapping[str, Any], refs: dict[str, Defaults]
    ) -> Defaults | None:
        """A property's or an array's items' defaults; a bare ``$ref`` is the compiled
        target itself, which may be one still being compiled (a recursive schema)."""
        bare = isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str)
        if bare and not any(key in schema for key in ("properties", "items", "allOf")):
            return cls._of_ref(schema["$ref"], root, refs)
        return cls.of(schema, root, refs)

    @classmethod
    def compile(cls, schema: Mapping[str, Any]) -> Defaults | None:
        """``of`` the whole schema, then without the links to parts that hold no default
        anywhere below (a recursive model without defaults costs no walk)."""
        refs: dict[str, Defaults] = {}
        top = cls.of(schema, schema, refs)
        if top is None:
            return None
        nodes: list[Defaults] = []
        seen: set[int] = set()
        stack = [top]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            nodes.append(node)
            stack.extend(inner for _, inner in node.inside)
            if node.items is not None:
                stack.append(node.items)
        useful = {id(node) for node in nodes if node.given}
        changed = True
        while changed:
            changed = False
            for node in nodes:
                children = [inner for _, inner in node.inside] + (
                    [node.items] if node.items is not None else []
                )
                if id(node) not in useful and any(id(c) in useful for c in children):
                    useful.add(id(node))
                    changed = True
        for node in nodes:
            node.inside = [(name, inner) for name, inner in node.inside if id(inner) in useful]
            if node.items is not None and id(node.items) not in useful:
                node.items = None
        return top if id(top) in useful else None

    @classmethod
    def _of_ref(cls, ref: str, root: Mapping[str, Any], refs: dict[str, Defaults]) -> Defaults:
        known = refs.get(ref)
        if known is None:
            known = refs[ref] = cls()  # filled in below; a cycle back to it finds it
            compiled = cls.of(_resolve(ref, root), root, refs)
            if compiled is not None:
                known.given = compiled.given
                known.inside = compiled.inside
                known.items = compiled.items
        return known

    def fill(self, value: Any) -> Any:
        """``value`` with the defaults filled in; ``value`` itself is not changed."""
        if isinstance(value, dict):
            filled: dict[str, Any] | None = None
            for name, default in self.given:
                if name not in value:
                    filled = filled if filled is not None else dict(value)
                    filled[name] = (
                        copy.deepcopy(default) if isinstance(default, dict | list) else default
                    )
            for name, inner in self.inside:
                if name in value:
                    now = inner.fill(value[name])
                    if now is not value[name]:
                        filled = filled if filled is not None else dict(value)
                        filled[name] = now
            return value if filled is None else filled
        if isinstance(value, list) and self.items is not None:
            items = self.items
            out = [items.fill(item) for item in value]
            return value if all(a is b for a, b in zip(out, value, strict=True)) else out
        return value


def with_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """``value`` with the ``default`` of each missing property that ``schema`` gives one."""
    defaults = Defaults.compile(schema)
    return value if defaults is None else defaults.fill(value)


_NONE = object()


def _default_of(schema: Any, root: Mapping[str, Any]) -> Any:
    if not isinstance(schema, Mapping):
        return _NONE
    if "default" in schema:
        return schema["default"]
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _default_of(_resolve(ref, root), root)
    return _NONE


def _resolve(ref: str, root: Mapping[str, Any]) -> Any:
    """A local ``$ref`` (``#/$defs/Address``); anything else resolves to no schema."""
    if not ref.startswith("#"):
        return None
    node: Any = root
    for part in ref[1:].split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


# -- from a handler's annotations ---------------------------------------------------------


def is_typed(annotation: Any) -> bool:
    """Whether an annotation gives a shape: a pydantic model, a dataclass or a TypedDict."""
    pydantic = sys.modules.get("pydantic")  # a model's class was made by it: it is loaded
    return isinstance(annotation, type) and (
        (pydantic is not None and issubclass(annotation, pydantic.BaseModel))
        or dataclasses.is_dataclass(annotation)
        or is_typeddict(annotation)
    )


def annotations_of(handler: Callable[..., Any], name: str) -> tuple[Any, Any]:
    """The annotations of ``handler``'s first parameter and of its return, resolved (``None``
    where there is none); ``TypeError`` if one is a name Python cannot find at run time."""
    target = handler if inspect.isroutine(handler) else type(handler).__call__
    signature = inspect.signature(handler)
    params = list(signature.parameters.values())
    found = params[0].annotation if params else inspect.Parameter.empty
    returned = signature.return_annotation
    namespace = getattr(inspect.unwrap(target), "__globals__", {})

    def resolve(annotation: Any, what: str) -> Any:
        if annotation is inspect.Parameter.empty or annotation is inspect.Signature.empty:
            return None
        if not isinstance(annotation, str):
            return annotation
        try:
            return eval(annotation, dict(namespace))
        except Exception as exc:
            raise TypeError(
                f"the {what} annotation {annotation!r} of the handler for {name!r} cannot be "
                f"resolved ({exc}); import what it names at run time, not only for type checkers"
            ) from None

    return resolve(found, "payload"), resolve(returned, "return")


def shapes_of(
    handler: Callable[..., Any],
    name: str,
    *,
    payload_schema: Mapping[str, Any] | None = None,
    result_schema: Mapping[str, Any] | None = None,
) -> tuple[Shape | None, Shape | None]:
    """The payload and result shapes of a job type: from the handler's annotations when they
    are typed (``is_typed``), else from the JSON Schemas given; ``TypeError``/``ValueError``
    says what is wrong."""
    payload_type, result_type = annotations_of(handler, name)
    payload = _shape(name, "payload", payload_type, payload_schema)
    result = _shape(name, "result", result_type, result_schema)
    return payload, result


def _shape(name: str, what: str, annotation: Any, schema: Mapping[str, Any] | None) -> Shape | None:
    typed = is_typed(annotation)
    if typed and schema is not None:
        raise TypeError(
            f"the handler for {name!r} annotates its {what} with {annotation.__name__}; give "
            f"that or {what}_schema=, not both"
        )
    if typed:
        try:
            return PythonShape(annotation, result=what == "result")
        except Exception as exc:  # pydantic cannot validate it: say which handler, and why
            raise TypeError(
                f"the {what} annotation {annotation.__name__} of the handler for {name!r} is "
                f"not a type pydantic can validate: {exc}"
            ) from exc
    if schema is None:
        return None
    try:
        return SchemaShape(schema)
    except ValueError as exc:
        raise ValueError(f"{what}_schema of {name!r}: {exc}") from None
