"""`jobq types` and `jobq queues limit|unlimit` as a subprocess, on both stores: a limit set,
listed (table and JSON) and removed; every bad option exits 2 naming what is wrong, and
changes nothing."""

from __future__ import annotations

import pytest

from tests.cli import Cli, describe


@pytest.fixture
def cli(store_url: str) -> Cli:
    runner = Cli(store_url)
    runner.ok("migrate")
    return runner


def test_a_type_limit_is_set_listed_and_removed(cli: Cli) -> None:
    said = cli.ok("types", "limit", "mail", "--concurrency", "2", "--by", "to", "--rate", "10/s")
    assert said.stdout.strip() == "limited type 'mail': 2 at once per to, 10 per 1s"
    [mail] = [t for t in cli.json("types", "list") if t["name"] == "mail"]
    assert mail["limit"]["origin"] == "set" and mail["handled"] is False
    assert mail["limit"]["concurrency"] == {"count": 2, "by": "to"}
    assert mail["limit"]["rate"] == {"count": 10, "per": 1.0, "by": None}
    table = cli.ok("types", "list").stdout
    header = ["TYPE", "WAITING", "RUNNING", "LIMIT", "PROCESSES", "PAYLOAD"]
    assert table.splitlines()[0].split() == header
    assert "2 at once per to, 10 per 1s (set)" in table

    lifted = cli.ok("types", "limit", "echo", "--none")
    assert lifted.stdout.strip() == "type 'echo': no limit, whatever the code declares"
    assert cli.ok("types", "unlimit", "mail").stdout.strip() == "type 'mail': no limit now"
    again = cli.ok("types", "unlimit", "mail").stdout.strip()
    assert again == "type 'mail' had no limit set at run time"


def test_a_queue_limit_is_set_listed_and_removed(cli: Cli) -> None:
    said = cli.ok("queues", "limit", "slow", "--concurrency", "3", "--rate", "100/60s")
    assert said.stdout.strip() == "limited queue 'slow': 3 at once, 100 per 60s"
    [slow] = cli.json("queues", "list")
    assert slow["name"] == "slow" and slow["limit"]["concurrency"] == {"count": 3, "by": None}
    assert "3 at once, 100 per 60s (set)" in cli.ok("queues", "list").stdout
    assert cli.ok("queues", "unlimit", "slow").stdout.strip() == "queue 'slow': no limit now"
    assert cli.json("queues", "list") == []


#: (the command, what its error must say)
BAD = [
    (("types", "limit", "mail"), "say a limit"),
    (("types", "limit", "mail", "--concurrency", "0"), "1..1,000,000"),
    (("types", "limit", "mail", "--concurrency", "x"), "'x' is not a valid integer"),
    (("types", "limit", "mail", "--rate", "10"), "is not N/PERIOD"),
    (("types", "limit", "mail", "--rate", "5/q"), "the period is not a duration"),
    (("types", "limit", "mail", "--rate", "5/forever"), "the period is not a duration"),
    (("types", "limit", "mail", "--rate", "0/s"), "a rate must be"),
    (("types", "limit", "mail", "--by", "to"), "give --concurrency too"),
    (("types", "limit", "mail", "--rate-by", "to", "--concurrency", "1"), "give --rate too"),
    (("types", "limit", "mail", "--none", "--concurrency", "1"), "--none goes alone"),
    (("types", "limit", "mail", "--concurrency", "1", "--by", "a.b"), "by='a.b'"),
    (("types", "limit", "no spaces", "--concurrency", "1"), "is not allowed"),
    (("queues", "limit", "a/b", "--concurrency", "1"), "is not allowed"),
    (("types", "unlimit", "no spaces"), "is not allowed"),
]


def test_bad_limits_exit_2_and_change_nothing(cli: Cli) -> None:
    for args, says in BAD:
        refused = cli(*args)
        assert refused.returncode == 2, describe(refused)
        assert says in refused.stderr, describe(refused)
        assert "Traceback" not in refused.stderr
    assert all(t["limit"] is None for t in cli.json("types", "list"))
    assert cli.json("queues", "list") == []
