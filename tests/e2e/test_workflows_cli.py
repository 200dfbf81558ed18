"""``jobq workflows show|cancel`` as a subprocess, on both stores: a workflow submitted from
Python is shown (table and JSON) and cancelled; an id that names no workflow exits 1."""

from __future__ import annotations

from jobq import chain, step
from tests.apps.flows import app
from tests.cli import Cli, describe


async def test_a_workflow_is_shown_and_cancelled(store_url: str) -> None:
    async with app(store_url) as jq:
        made = await jq.submit(
            chain(step("fetch", {"n": 1}, ref="first", delay=3600), step("merge", ref="then")),
            name="later",
        )
    cli = Cli(store_url)
    shown = cli.ok("workflows", "show", made.id).stdout
    assert f"workflow {made.id} later" in shown and "running: 1 pending, 1 waiting" in shown
    [then_row] = [line for line in shown.splitlines() if line.startswith(made.jobs["then"].id)]
    assert then_row.split()[1:] == ["merge", "waiting", made.jobs["first"].id[:8]]
    document = cli.json("workflows", "show", made.id)
    assert document["counts"] == {"pending": 1, "waiting": 1}
    said = cli.ok("workflows", "cancel", made.id).stdout.strip()
    assert said == f"workflow {made.id}: 2 job(s) cancelled"
    assert cli.json("workflows", "show", made.id)["status"] == "failed"
    missing = cli("workflows", "show", "nope")
    assert missing.returncode == 1, describe(missing)
    assert "no workflow 'nope'" in missing.stderr
