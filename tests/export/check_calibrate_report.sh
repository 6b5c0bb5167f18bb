#!/bin/sh
# check_calibrate_report.sh PPQ_CALIB [SOURCE_DIR]: the report `ppq-calib calibrate` writes
# for the digits example (io/export/pq_report.h through src/app/calib_report.c).
#   - percentile, analysis on: report.md and report.html (well-formed XML) with the worst
#     layers, graphwise and layerwise figures, the observers' histograms (of |x|: symmetric
#     percentile) and time per phase; the graph output's graphwise SNR equals the one the
#     evaluation prints (two separate computations); the clip range drawn for an ACTIVATED
#     percentile TQC is the range its JSON scale represents (or narrower, when alignment
#     widened the TQC afterwards); rank 0 prints the short table;
#   - minmax: the report says the observer keeps no histogram instead of a chart;
#   - analysis off: summary and time per phase only.
# Needs /usr/bin/python3 (exit 77 = skipped without it).
set -u
BIN=${1:?usage: check_calibrate_report.sh PPQ_CALIB [SOURCE_DIR]}
SRC=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
CFG="$SRC/configs/example.yaml"
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "skipped: no /usr/bin/python3"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

calib() {
    out=$1; shift
    "$BIN" calibrate --config "$CFG" --set export.dir="$out" \
        --set 'export.formats=[json,report]' "$@" >"$TMP/stdout" 2>"$TMP/stderr" ||
        fail "calibrate $*: $(cat "$TMP/stderr")"
}

calib "$TMP/p" --set calibration.activation=percentile
cp "$TMP/stdout" "$TMP/p.stdout"
for f in report.md report.html; do [ -s "$TMP/p/$f" ] || fail "missing $f"; done
grep -q "Worst 10 layers by graphwise SNR" "$TMP/p.stdout" || fail "no short table on stdout"
$PY - "$TMP/p" "$TMP/p.stdout" <<'PY' || fail "percentile report"
import json, re, sys
import xml.parsers.expat
d, out = sys.argv[1], open(sys.argv[2]).read()
md = open(d + "/report.md").read()
html = open(d + "/report.html").read()
xml.parsers.expat.ParserCreate().Parse(html.encode(), True)   # well-formed
for s in ("## The 10 worst layers by graphwise SNR", "## All layers", "## Time per phase",
          "| calibration pass 1 |", "| calibration pass 2 |", "| evaluation |",
          "| analysis: graphwise |", "| analysis: layerwise |", "| analysis | graphwise and layerwise |"):
    assert s in md, "report.md lacks " + s
assert html.count("<svg") >= 11, "SNR chart + 10 histograms expected"
assert "Histograms kept by the calibration observers" in html
# Every worst layer has a chart: the observer's |x| histogram, or (a TQC that follows
# another one's) the analysis' float histogram, said so.
n_obs, n_ana = html.count("bins of |x|, log"), html.count("bins, log")
assert n_obs >= 4 and n_obs + n_ana == 10, (n_obs, n_ana)
assert html.count("no observer of its own") == n_ana
# The output's graphwise SNR: report (pq_report_analyze) vs the printed evaluation.
m = re.search(r"^logits\s+([0-9.e+-]+)\s", out, re.M)
ev = float(m.group(1))
row = [l for l in md.split("\n") if l.startswith("| ") and "logits (output)" in l][0].split(" | ")
rep = float(row[4])
assert abs(rep - ev) <= 1e-3 * ev, (rep, ev)
# Clip ranges of ACTIVATED percentile TQCs: [-t, t] with t = scale * (qmax - qmin) / 2.
doc = json.load(open(d + "/quant.json"))
want = {}
for op in doc["operations"]:
    for t in op["outputs"]:
        if t["state"] == "ACTIVATED" and t["observer"] == "percentile" and len(t["scale"]) == 1:
            want[t["variable"]] = t["scale"][0] * (t["quant_max"] - t["quant_min"]) / 2
checked = 0
for l in md.split("## All layers")[1].split("## Time")[0].split("\n"):
    cells = [c.strip() for c in l.split(" | ")]
    if len(cells) < 10 or cells[1] not in want:
        continue
    lo, hi = (float(x) for x in cells[-1].strip("[] |").split(","))
    t = want[cells[1]]
    assert abs(lo + hi) <= 1e-3 * hi, (cells[1], lo, hi)
    if abs(hi - t) <= 1e-3 * t:
        checked += 1
    else:  # Concat/Add alignment gave the TQC a wider range than its observer chose
        assert t > hi, (cells[1], lo, hi, t)
assert checked >= 3, checked
print("percentile report: output SNR %.4g (evaluation %.4g), %d clip ranges checked" % (rep, ev, checked))
PY

calib "$TMP/m" --set calibration.activation=minmax
grep -q "minmax observer: no histogram" "$TMP/m/report.html" || fail "minmax: no note in the HTML"
grep -q "minmax observer: no histogram" "$TMP/m/report.md" || fail "minmax: no note in the Markdown"
if grep -q "bins of |x|" "$TMP/m/report.html"; then fail "minmax: an observer histogram chart"; fi

calib "$TMP/off" --set analysis.enabled=false
grep -q "| analysis | off (analysis.enabled: false) |" "$TMP/off/report.md" || fail "analysis off: not said"
grep -q "No layer was measured." "$TMP/off/report.md" || fail "analysis off: layers measured"
grep -q "| calibration pass 1 |" "$TMP/off/report.md" || fail "analysis off: no time per phase"
if grep -q "analysis: layerwise" "$TMP/off/report.md"; then fail "analysis off: the analysis ran"; fi

[ "$fails" = 0 ] && echo "check_calibrate_report: all passed"
[ "$fails" = 0 ]
