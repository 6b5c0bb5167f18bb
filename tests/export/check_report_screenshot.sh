#!/bin/sh
# check_report_screenshot.sh PPQ_CALIB [SOURCE_DIR]: renders the HTML report that
# `ppq-calib calibrate` writes for the digits example in headless Chromium
# (scripts/screenshot_report.sh) and checks the PNG: readable, not empty, not one colour,
# not nearly blank. Exit 77 (skipped) only when chromium is not installed
# (scripts/install-deps.sh --fixtures installs Debian's chromium).
set -u
BIN=${1:?usage: check_report_screenshot.sh PPQ_CALIB [SOURCE_DIR]}
SRC=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    echo "skipped: chromium is not installed (apt-get install -y chromium)"
    exit 77
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BIN" calibrate --config "$SRC/configs/example.yaml" --set export.dir="$TMP/out" --quiet \
    --set 'export.formats=[report]' >"$TMP/stdout" 2>"$TMP/stderr" || {
    echo "FAIL: calibrate: $(cat "$TMP/stderr")"
    exit 1
}
"$SRC/scripts/screenshot_report.sh" --html "$TMP/out/report.html" "$TMP/report.png" || exit 1
[ -s "$TMP/report.png" ] || { echo "FAIL: empty screenshot"; exit 1; }
# Kept for a look when PQ_REPORT_PNG names a path.
[ -n "${PQ_REPORT_PNG:-}" ] && cp "$TMP/report.png" "$PQ_REPORT_PNG"
echo "check_report_screenshot: passed ($(wc -c <"$TMP/report.png") bytes)"
