"""Building workflows in Python: ``step`` (one job), ``chain`` (one after another), ``group``
(side by side) and ``.then`` (after all of them: fan-in), nested as deep as wanted. A ``Flow``
is only a description; ``await jq.submit(flow)`` checks every job and stores them all in one
transaction, or none.

    flow = chain(
        step("fetch", {"url": url}),
        group([step("resize", {"width": w}) for w in (100, 200)]).then(step("merge")),
    )
    workflow = await jq.submit(flow, name="thumbnails")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jobq.domain.job import JSONValue
from jobq.domain.workflows import DependencyFailure


@dataclass(eq=False, slots=True)
class Step:
    """One job of a workflow: its type, payload and options (as ``jq.enqueue`` takes them)."""

    type: str
    payload: Mapping[str, JSONValue] | Any = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    #: its name in the workflow (``workflow.jobs[ref]``); default: ``<type>#<n>``
    ref: str | None = None
    on_dependency_failure: str = DependencyFailure.CANCEL.value

    def then(self, *after: Step | Flow) -> Flow:
        return chain(self, *after)


@dataclass(slots=True)
class Flow:
    """Steps and who runs after whom: ``entries`` start it, ``exits`` end it."""

    steps: list[Step] = field(default_factory=list)
    #: (parent, child) as indices into ``steps``
    edges: list[tuple[int, int]] = field(default_factory=list)
    entries: list[int] = field(default_factory=list)
    exits: list[int] = field(default_factory=list)
    #: where each step is (by identity), and the edges as a set: a flow of 10,000 steps is
    #: built in linear time
    _where: dict[int, int] = field(default_factory=dict, repr=False)
    _edge_set: set[tuple[int, int]] = field(default_factory=set, repr=False)

    def _add_edge(self, edge: tuple[int, int]) -> None:
        if edge not in self._edge_set:
            self._edge_set.add(edge)
            self.edges.append(edge)

    def then(self, *after: Step | Flow) -> Flow:
        """This flow, then ``after`` once every one of its last jobs has succeeded."""
        return chain(self, *after)


def step(
    type: Any,
    payload: Mapping[str, JSONValue] | Any = None,
    *,
    ref: str | None = None,
    **options: Any,
) -> Step:
    """One job: ``type`` (a name or a ``TypedJob``), its payload (a dict or the handler's
    model) and options (``queue``, ``priority``, ``delay``, ``max_attempts``...). ``ref``: its
    name in the workflow. ``on_dependency_failure="run"``: run even if what it waits for
    ends dead or cancelled."""
    name = type if isinstance(type, str) else getattr(type, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"a step's type is a job type's name or a TypedJob, not {type!r}")
    if not isinstance(type, str):
        payload = type.payload_json(payload)
    policy = options.pop("on_dependency_failure", DependencyFailure.CANCEL.value)
    return Step(name, {} if payload is None else payload, options, ref, policy)


def _flow(part: Step | Flow) -> Flow:
    if isinstance(part, Flow):
        return part
    if isinstance(part, Step):
        return Flow([part], [], [0], [0], {id(part): 0})
    raise TypeError(f"a workflow is made of steps, chains and groups, not {part!r}")


def _merged(into: Flow, part: Flow) -> dict[int, int]:
    """Add ``part``'s steps to ``into`` (a step already there is one step); its indices."""
    where = into._where
    index: dict[int, int] = {}
    for i, s in enumerate(part.steps):
        if id(s) not in where:
            where[id(s)] = len(into.steps)
            into.steps.append(s)
        index[i] = where[id(s)]
    for parent, child in part.edges:
        into._add_edge((index[parent], index[child]))
    return index


def chain(*parts: Step | Flow) -> Flow:
    """Each part after the one before: its first jobs wait for every last job of the one
    before."""
    if not parts:
        raise ValueError("a chain needs at least one step")
    flow = Flow()
    exits: list[int] = []
    for n, part in enumerate(map(_flow, parts)):
        index = _merged(flow, part)
        entries = [index[i] for i in part.entries]
        if n == 0:
            flow.entries = entries
        for parent in exits:
            for child in entries:
                flow._add_edge((parent, child))
        exits = [index[i] for i in part.exits]
    flow.exits = exits
    return flow


def group(parts: Iterable[Step | Flow]) -> Flow:
    """The parts side by side: they start together; what comes after waits for all."""
    flow = Flow()
    entries: dict[int, None] = {}
    exits: dict[int, None] = {}
    for part in map(_flow, parts):
        index = _merged(flow, part)
        entries.update(dict.fromkeys(index[i] for i in part.entries))
        exits.update(dict.fromkeys(index[i] for i in part.exits))
    flow.entries, flow.exits = list(entries), list(exits)
    if not flow.steps:
        raise ValueError("a group needs at least one step")
    return flow


def refs_of(flow: Flow) -> list[str]:
    """Each step's reference: its own, or ``<type>#<n>`` (the n-th unnamed step of that
    type, in the order the flow holds them)."""
    counts: dict[str, int] = {}
    refs = []
    for s in flow.steps:
        if s.ref is not None:
            refs.append(s.ref)
            continue
        counts[s.type] = counts.get(s.type, 0) + 1
        refs.append(f"{s.type}#{counts[s.type]}")
    return refs
