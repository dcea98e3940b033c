#!/usr/bin/env bash
# The whole test suite: installs missing system packages, builds, runs every test.
# This is the README's test command and exactly what CI (.ci/run) runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Tests run in release mode: element loops in debug builds are 10-100x slower (PLATFORM.md).
swift build -c release --build-tests -Xswiftc -enable-testing
swift test -c release --skip-build --disable-swift-testing -Xswiftc -enable-testing "$@"
