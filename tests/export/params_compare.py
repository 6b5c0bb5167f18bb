#!/usr/bin/python3
"""params_compare.py A.json B.json: compares two ppq-calib parameter files byte for byte
apart from their top-level "provenance" member (the run's own record: world size, config,
digests, --params source). Exit 0 when equal, 1 with the first difference otherwise.

The provenance value is cut out of the raw text (its extent found by JSON's own decoder),
so everything else, including number formatting and key order, is compared as bytes."""
import json
import sys


def strip_provenance(path):
    with open(path, "rb") as f:
        raw = f.read().decode("utf-8")
    if "provenance" not in json.loads(raw):
        sys.exit("params_compare: %s: no provenance member" % path)
    key = '\n  "provenance": '  # the top-level member (the writer indents by 2)
    at = raw.find(key)
    if at < 0:
        sys.exit("params_compare: %s: no top-level provenance line" % path)
    start = at + len(key)
    _, end = json.JSONDecoder().raw_decode(raw, start)
    return raw[:start] + "<PROVENANCE>" + raw[end:]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: params_compare.py A.json B.json")
    a, b = strip_provenance(sys.argv[1]), strip_provenance(sys.argv[2])
    if a == b:
        print("params_compare: %s and %s are identical apart from provenance (%d bytes)"
              % (sys.argv[1], sys.argv[2], len(a)))
        return 0
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    line = a.count("\n", 0, i) + 1
    print("params_compare: %s and %s differ at line %d: %r vs %r"
          % (sys.argv[1], sys.argv[2], line, a[max(0, i - 60):i + 30], b[max(0, i - 60):i + 30]))
    return 1


sys.exit(main())
