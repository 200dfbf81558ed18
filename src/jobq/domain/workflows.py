"""Workflows: jobs that wait for other jobs. A job may depend on others (``depends_on``); it is
``waiting`` until every one has succeeded, then ``pending``, in the transaction that records the
last one's success. A dependency that ends dead or cancelled cancels it (``dependency_failed``),
and so on down, unless it says ``on_dependency_failure="run"``: then it runs once every
dependency has ended. A workflow is such jobs submitted together, by local reference, all or
nothing; ``check_graph`` says what is wrong with one before anything is stored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from jobq.domain.errors import FieldProblem, InvalidWorkflow
from jobq.domain.job import Job

#: the most jobs one workflow may hold
MAX_WORKFLOW_JOBS = 10_000
#: the most jobs one job may depend on
MAX_DEPENDENCIES = 10_000


class DependencyFailure(StrEnum):
    #: a dependency that ends dead or cancelled cancels the job (the default)
    CANCEL = "cancel"
    #: the job runs once every dependency has ended, whatever the ending
    RUN = "run"


@dataclass(frozen=True, slots=True)
class Node:
    """One job of a workflow: its local reference and the references it runs after."""

    ref: str
    after: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Graph:
    """A workflow's jobs in an order where each comes after those it depends on."""

    order: list[int] = field(default_factory=list)
    #: each job's dependencies, as indices into the nodes
    parents: list[list[int]] = field(default_factory=list)


def check_graph(nodes: Sequence[Node], *, where: str = "jobs") -> Graph:
    """The graph of ``nodes``, or ``InvalidWorkflow`` naming each fault (``jobs[2].after``):
    a reference given twice, one that names no job, a job after itself, a cycle."""
    problems: list[FieldProblem] = []
    if not nodes:
        problems.append(FieldProblem(where, "a workflow needs at least one job"))
    if len(nodes) > MAX_WORKFLOW_JOBS:
        problems.append(FieldProblem(where, f"a workflow holds at most {MAX_WORKFLOW_JOBS:,} jobs"))
    index: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if not node.ref:
            problems.append(FieldProblem(f"{where}[{i}].ref", "must not be empty"))
        elif node.ref in index:
            problems.append(
                FieldProblem(
                    f"{where}[{i}].ref", f"{node.ref!r} is given to {where}[{index[node.ref]}] too"
                )
            )
        else:
            index[node.ref] = i
    parents: list[list[int]] = []
    for i, node in enumerate(nodes):
        mine: list[int] = []
        for ref in node.after:
            if ref == node.ref:
                problems.append(FieldProblem(f"{where}[{i}].after", f"{ref!r} is the job itself"))
            elif ref not in index:
                problems.append(FieldProblem(f"{where}[{i}].after", f"{ref!r} names no job"))
            elif index[ref] not in mine:
                mine.append(index[ref])
        parents.append(mine)
    if problems:
        raise InvalidWorkflow(_said(problems), problems=problems)
    order = _topological(parents)
    if order is None:
        cycle = _a_cycle(parents)
        refs = " -> ".join(repr(nodes[i].ref) for i in cycle)
        problem = FieldProblem(f"{where}[{cycle[0]}].after", f"a cycle: {refs}")
        raise InvalidWorkflow(_said([problem]), problems=[problem])
    return Graph(order, parents)


def _said(problems: Sequence[FieldProblem]) -> str:
    text = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
    more = len(problems) - 5
    return text + (f"; and {more} more" if more > 0 else "") + " (nothing was stored)"


def _topological(parents: Sequence[Sequence[int]]) -> list[int] | None:
    """Kahn's order; None if there is a cycle."""
    waiting = [len(p) for p in parents]
    children: dict[int, list[int]] = {}
    for child, mine in enumerate(parents):
        for parent in mine:
            children.setdefault(parent, []).append(child)
    ready = [i for i, n in enumerate(waiting) if n == 0]
    order: list[int] = []
    while ready:
        i = ready.pop()
        order.append(i)
        for child in children.get(i, ()):
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return order if len(order) == len(parents) else None


def _a_cycle(parents: Sequence[Sequence[int]]) -> list[int]:
    """One cycle of the graph (which has one), as the jobs along it, the first repeated."""
    state: dict[int, int] = {}  # 1: on the path, 2: done
    for start in range(len(parents)):
        if start in state:
            continue
        path: list[int] = []
        stack: list[tuple[int, int]] = [(start, 0)]
        while stack:
            node, k = stack.pop()
            if k == 0:
                state[node] = 1
                path.append(node)
            if k < len(parents[node]):
                stack.append((node, k + 1))
                nxt = parents[node][k]
                if state.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt][::-1]
                if nxt not in state:
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    return []


def edges_of(ids: Sequence[str], graph: Graph) -> list[tuple[str, str]]:
    """(parent id, child id) of every edge, given each node's id."""
    return [(ids[p], ids[c]) for c, mine in enumerate(graph.parents) for p in mine]


def depends_on_of(ids: Sequence[str], graph: Graph) -> Mapping[int, tuple[str, ...]]:
    """Each node's dependencies as ids, by node index (only those that have any)."""
    return {c: tuple(ids[p] for p in mine) for c, mine in enumerate(graph.parents) if mine}


@dataclass(frozen=True, slots=True)
class WorkflowRecord:
    """A workflow as stored: its jobs carry its id."""

    id: str
    name: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WorkflowView:
    """A workflow as read: its record, its jobs (by id: creation order) and who waits for whom
    (parent id, child id)."""

    record: WorkflowRecord
    jobs: list[Job]
    edges: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Workflow:
    """A workflow as submitted: its id and its jobs by reference."""

    id: str
    name: str | None
    jobs: dict[str, Job]
