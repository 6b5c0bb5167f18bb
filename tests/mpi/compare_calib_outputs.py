#!/usr/bin/python3
"""compare_calib_outputs.py REF_DIR DIR NP: checks that a `ppq-calib calibrate` run in DIR
(world size NP) wrote the same outputs as the reference run in REF_DIR.

- model.qdq.onnx: byte for byte (the QDQ export carries no provenance);
- quant.json: byte for byte once the fields that record the run itself are neutralised:
  provenance.world_size (checked to be NP first) and the output folder inside the
  effective config text (each run writes to its own export.dir);
- report.md (when present): byte for byte with the world size, the wall times (total and
  per phase) and the folder likewise neutralised.
Exit 0 when equal; 1 with the first difference otherwise."""
import json
import sys


def read(path):
    with open(path, "rb") as f:
        return f.read()


def fail(msg):
    print("compare_calib_outputs: " + msg)
    sys.exit(1)


def neutral_json(path, folder, np_expected):
    raw = read(path)
    doc = json.loads(raw)
    prov = doc.get("provenance")
    if not isinstance(prov, dict) or "world_size" not in prov:
        fail("%s: no provenance.world_size" % path)
    if np_expected is not None and prov["world_size"] != np_expected:
        fail("%s: provenance.world_size is %r, expected %d" % (path, prov["world_size"], np_expected))
    lines = raw.decode("utf-8").split("\n")
    ws = [i for i, l in enumerate(lines) if l.strip().startswith('"world_size":')]
    if len(ws) != 1:
        fail("%s: %d world_size lines" % (path, len(ws)))
    del lines[ws[0]]
    return "\n".join(lines).replace(folder, "<EXPORT_DIR>")


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return "at offset %d: %r vs %r" % (i, a[max(0, i - 40):i + 40], b[max(0, i - 40):i + 40])
    return "lengths %d and %d" % (len(a), len(b))


def main():
    if len(sys.argv) != 4:
        fail("usage: compare_calib_outputs.py REF_DIR DIR NP")
    ref, out, np_ = sys.argv[1].rstrip("/"), sys.argv[2].rstrip("/"), int(sys.argv[3])
    a, b = read(ref + "/model.qdq.onnx"), read(out + "/model.qdq.onnx")
    if a != b:
        fail("model.qdq.onnx differs from the reference " + first_diff(a, b))
    ja = neutral_json(ref + "/quant.json", ref, None)
    jb = neutral_json(out + "/quant.json", out, np_)
    if ja != jb:
        fail("quant.json differs from the reference " + first_diff(ja, jb))
    try:
        ra = read(ref + "/report.md").decode("utf-8")
        rb = read(out + "/report.md").decode("utf-8")
    except FileNotFoundError:
        ra = rb = None
    if ra is not None:
        import re
        def norm(t, d):
            # The world size (summary row and provenance) and the wall times differ.
            t = re.sub(r"world size( \|)? \d+", r"world size\1 N", t)
            t = re.sub(r'"world_size": ?\d+', '"world_size": N', t)
            t = re.sub(r"\| total time \| [0-9.]+ s \|", "| total time | T |", t)
            head, sep, tail = t.partition("## Time per phase")
            tail = re.sub(r"\| [0-9.]+ \|\n", "| T |\n", tail)
            return (head + sep + tail).replace(d, "<EXPORT_DIR>")
        if norm(ra, ref) != norm(rb, out):
            fail("report.md differs from the reference " + first_diff(norm(ra, ref), norm(rb, out)))
    print("compare_calib_outputs: %s equals %s (QDQ ONNX bytes, JSON and report apart from "
          "world size and export folder)" % (out, ref))


main()
