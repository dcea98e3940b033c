#!/usr/bin/env bash
# Renders an `autosam report` HTML file to a PNG with headless Chromium, and fails on anything a
# self-contained, script-free report must not have. Not part of the test suite.
#
#   scripts/render-report.sh REPORT.html OUT.png [--window-size W,H] [--scale F]
#
# --window-size W,H   browser viewport in CSS pixels (default 1200,1800); the PNG shows this viewport
# --scale F           device scale factor (default 1; 0.5 gives a half-size PNG for READMEs)
#
# Fails (non-zero) when: the HTML references anything outside itself (http(s)://, //host, <script src>,
# <link>, a non-data: image source); Chromium logs any console message (the report has no scripts, so
# any message, e.g. "Uncaught ReferenceError", is an error); Chromium fails or writes no screenshot.
# Installs Debian's chromium with apt-get when it is missing.
set -euo pipefail

usage() { sed -n '5,8p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
html="$1"; out="$2"; shift 2
size="1200,1800"; scale="1"
while [ $# -gt 0 ]; do
  case "$1" in
    --window-size) size="$2"; shift 2 ;;
    --scale) scale="$2"; shift 2 ;;
    *) usage ;;
  esac
done
[ -f "$html" ] || { echo "render-report: no such file $html" >&2; exit 2; }

# 1. Self-contained: nothing fetched from elsewhere (Chromium does not log failed image loads).
problems=$(grep -n -i -o -E 'https?://[^" <]*|src="//[^"]*|<script[^>]*src|<link[^>]*>|src="[^d"][^"]*"' "$html" \
  | head -5 || true)
if [ -n "$problems" ]; then
  echo "render-report: $html is not self-contained:" >&2
  echo "$problems" >&2
  exit 1
fi

# 2. Chromium, installed on first use.
if ! command -v chromium >/dev/null 2>&1; then
  echo "render-report: installing chromium (apt-get)" >&2
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

# 3. Render with console logging on stderr; any console line fails the run.
profile=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$profile" "$log"' EXIT
abs_html="$(cd "$(dirname "$html")" && pwd)/$(basename "$html")"
rm -f "$out"
status=0
timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --user-data-dir="$profile" --enable-logging=stderr --v=0 \
  --window-size="$size" --force-device-scale-factor="$scale" \
  --screenshot="$out" "file://$abs_html" >"$log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
  echo "render-report: chromium failed (exit $status):" >&2
  tail -20 "$log" >&2
  exit 1
fi
if grep -q ':CONSOLE' "$log"; then
  echo "render-report: the page logged console messages (errors in a report without scripts):" >&2
  grep ':CONSOLE' "$log" >&2
  rm -f "$out"
  exit 1
fi
if [ ! -s "$out" ]; then
  echo "render-report: chromium wrote no screenshot to $out" >&2
  tail -20 "$log" >&2
  exit 1
fi
echo "render-report: $out ($(wc -c <"$out") bytes, viewport $size, scale $scale)"
