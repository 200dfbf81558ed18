#!/usr/bin/env sh
# The PgBouncer tests (tests/e2e/test_pgbouncer.py) start Debian's pgbouncer themselves, on a
# free loopback port with their own configuration. Install it when it is missing and this
# machine can (root with apt-get); otherwise say how, and let the tests skip (or, where
# JOBQ_TEST_REQUIRE_POSTGRES=1, as in CI, fail).
set -eu
if command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing pgbouncer for the PgBouncer tests (apt-get)"
    # the package's own service stays stopped: the tests run their own pgbouncer
    apt-get install -y -q pgbouncer >/dev/null || {
        apt-get update -q >/dev/null && apt-get install -y -q pgbouncer >/dev/null
    }
    exit 0
fi
echo "note: the PgBouncer tests need pgbouncer (Debian/Ubuntu: apt-get install pgbouncer);" \
     "they will be skipped"
