#!/usr/bin/env sh
# The dashboard's browser test drives Debian's chromium through chromium-driver. Install them
# when they are missing and this machine can (root with apt-get); otherwise say how, and let
# the test skip (or, where JOBQ_TEST_REQUIRE_BROWSER=1, as in CI, fail).
set -eu
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium and chromium-driver for the dashboard test (apt-get)"
    apt-get install -y -q chromium chromium-driver >/dev/null || {
        apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null
    }
    exit 0
fi
echo "note: the dashboard test needs chromium and chromedriver" \
     "(Debian/Ubuntu: apt-get install chromium chromium-driver); it will be skipped"
