#!/usr/bin/python3
"""Run every clients/curl/*.sh against a live daemon and compare its answer
with the answer the script states ("# EXPECT: {...}", worked by hand from
the seed; "# TOLERANCE: t" for a looser absolute+relative tolerance than
1e-12).

Every number the EXPECT object names must be in the answer (arrays
element by element, same lengths); fields it does not name (stats) are
not compared. Usage: GRADD_URL=http://127.0.0.1:PORT check_curl_examples.py [DIR]
Exit status 0 when every script ran and matched.
"""

import glob
import json
import os
import subprocess
import sys

DEFAULT_TOL = 1e-12


def differences(got, want, where=""):
    """Where got differs from want, as a list of sentences."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return ["%s: %r, want an object" % (where or "/", got)]
        out = []
        for k, v in want.items():
            if k not in got:
                out.append("%s/%s: missing" % (where, k))
            else:
                out += differences(got[k], v, "%s/%s" % (where, k))
        return out
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return ["%s: %r, want %r" % (where, got, want)]
        out = []
        for i, (g, w) in enumerate(zip(got, want)):
            out += differences(g, w, "%s/%d" % (where, i))
        return out
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return ["%s: %r, want %r" % (where, got, want)]
        return [] if abs(got - want) <= TOL * (1 + abs(want)) else ["%s: %r, want %r" % (where, got, want)]
    return [] if got == want else ["%s: %r, want %r" % (where, got, want)]


TOL = DEFAULT_TOL


def self_test():
    """The comparison itself must be able to say no."""
    assert differences({"a": 1, "s": 1}, {"a": 1}) == []
    assert differences({"a": 1.5}, {"a": 1})
    assert differences({"a": [1, 2]}, {"a": [1, 2, 3]})
    assert differences({}, {"a": 1})
    assert differences({"a": 1 + 1e-9}, {"a": 1})


def stated(path):
    expect, tol = None, DEFAULT_TOL
    with open(path) as f:
        for line in f:
            if line.startswith("# EXPECT:"):
                expect = json.loads(line[len("# EXPECT:"):])
            elif line.startswith("# TOLERANCE:"):
                tol = float(line[len("# TOLERANCE:"):])
    return expect, tol


def main():
    global TOL
    self_test()
    here = os.path.dirname(os.path.abspath(__file__))
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "clients", "curl")
    if not os.environ.get("GRADD_URL"):
        print("check_curl_examples: set GRADD_URL", file=sys.stderr)
        return 2
    scripts = sorted(glob.glob(os.path.join(folder, "*.sh")))
    if not scripts:
        print("check_curl_examples: no scripts in %s" % folder, file=sys.stderr)
        return 1
    failed = 0
    for path in scripts:
        name = os.path.basename(path)
        expect, TOL = stated(path)
        problems = []
        if expect is None:
            problems.append("no '# EXPECT:' line")
        else:
            try:
                run = subprocess.run(["sh", path], capture_output=True, text=True, timeout=60)
            except subprocess.TimeoutExpired:
                run = None
                problems.append("did not finish within 60 s")
            if run is not None and run.returncode != 0:
                problems.append("exit %d: %s %s" % (run.returncode, run.stdout.strip(), run.stderr.strip()))
            elif run is not None:
                try:
                    got = json.loads(run.stdout)
                except ValueError:
                    problems.append("not JSON: %r" % run.stdout[:300])
                else:
                    problems += differences(got, expect)
        if problems:
            failed += 1
            print("FAIL %s\n  - %s" % (name, "\n  - ".join(problems)))
        else:
            print("ok   %s" % name)
    print("curl examples: %d passed, %d failed" % (len(scripts) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
