#!/usr/bin/env sh
# W6 of `make bench` loads the HTTP API with wrk (Debian's package). Install it when it is
# missing and this machine can (root with apt-get); otherwise say how and fail, since the
# benchmarks cannot run W6 without it.
set -eu
if command -v wrk >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing wrk for the HTTP benchmark, W6 (apt-get)"
    apt-get install -y -q wrk >/dev/null 2>&1 || {
        apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null
    } || true
    if command -v wrk >/dev/null 2>&1; then
        exit 0
    fi
fi
echo "error: the HTTP benchmark (W6) needs wrk, and it could not be installed here" \
     "(Debian/Ubuntu, as root: apt-get install wrk; or put wrk on PATH)" >&2
exit 1
