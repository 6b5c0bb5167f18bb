#!/bin/sh
# screenshot_report.sh - renders a quantization report (HTML) with headless Chromium and
# checks the picture: a PNG that exists, is not empty and is not a single colour.
#
#   scripts/screenshot_report.sh BUILD_DIR [OUT.png]     report of the digits test, made by
#                                                         BUILD_DIR/tests/test_export_report
#   scripts/screenshot_report.sh --html REPORT.html [OUT.png]
#
# OUT.png defaults to ./report.png. Needs Debian's chromium (apt-get install -y chromium)
# and /usr/bin/python3 with PIL. Exit status 0 when the picture passes, 1 otherwise.
set -eu

usage() {
    sed -n '3,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[ $# -ge 1 ] || usage
tmp=$(mktemp -d /tmp/pq_shot_XXXXXX)
profile=$(mktemp -d /tmp/pq_shot_profile_XXXXXX)
trap 'rm -rf "$tmp" "$profile"' EXIT INT TERM

if [ "$1" = "--html" ]; then
    [ $# -ge 2 ] || usage
    html=$2
    out=${3:-report.png}
else
    build=$1
    out=${2:-report.png}
    test_bin="$build/tests/test_export_report"
    [ -x "$test_bin" ] || { echo "screenshot_report: $test_bin not found (build first)" >&2; exit 1; }
    # The test writes its digits report into PQ_REPORT_OUT.
    (cd "$build/tests" && PQ_REPORT_OUT="$tmp" "./test_export_report" >/dev/null) || {
        echo "screenshot_report: test_export_report failed" >&2
        exit 1
    }
    html="$tmp/digits_report.html"
fi
[ -f "$html" ] || { echo "screenshot_report: $html not found" >&2; exit 1; }

chrome=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chrome" ] || { echo "screenshot_report: chromium not found (apt-get install -y chromium)" >&2; exit 1; }

abs=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
rm -f "$out"
"$chrome" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --screenshot="$out" \
    --window-size=1200,1600 "file://$abs" >"$tmp/chromium.log" 2>&1 || {
    echo "screenshot_report: chromium failed:" >&2
    tail -5 "$tmp/chromium.log" >&2
    exit 1
}

/usr/bin/python3 - "$out" <<'EOF'
import sys
from PIL import Image

path = sys.argv[1]
try:
    im = Image.open(path)
    im.load()
except Exception as e:  # missing, empty or not a PNG
    sys.exit(f"screenshot_report: {path}: not a readable PNG: {e}")
if im.format != "PNG" or im.width < 100 or im.height < 100:
    sys.exit(f"screenshot_report: {path}: {im.format} {im.width}x{im.height}, expected a PNG")
colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
n = len(colours) if colours is not None else 1 << 20
if n < 2:
    sys.exit(f"screenshot_report: {path}: a single colour")
# Not mostly blank: some pixels differ from the most common (background) colour.
bg = max(colours)[0] if colours else 0
total = im.width * im.height
ink = total - bg
print(f"screenshot_report: {path}: {im.width}x{im.height}, {n} colours, "
      f"{100.0 * ink / total:.1f}% non-background pixels")
if ink < total // 100:
    sys.exit(f"screenshot_report: {path}: nearly blank")
EOF
