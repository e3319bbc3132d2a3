#!/usr/bin/python3
"""tests/clients/check_readme.py URL [README] -- run every command block of
clients/README.md against the daemon at URL, as a user would.

Each fenced block of the README follows a marker line, as in the top-level
README (tests/readme/run.py):

  <!-- readme-test: file NAME -->  the block is written to NAME in the
        working directory (a program a later block builds or runs);
  <!-- readme-test: run -->        each line of the sh block is a command,
        run with `sh -c`; the `# ...` lines after a command are its expected
        stdout, line by line (`...` stands for any text). A command with no
        such lines must just succeed.

A fenced block without a marker fails the test (so no documented command
goes untested). The commands run in a scratch directory holding a copy of
clients/ (what `pip install` and `cc` read, and where they and the file
blocks write; it is also $HOME, so `~/gradd-venv` lands there), with Debian's /usr/bin first on PATH (`python3` is
Debian's) and `localhost:8080` in the text replaced by URL's host:port.
Exit status 0 only when every block passed.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MARK = re.compile(r"^<!--\s*readme-test:\s*(file\s+\S+|run)\s*-->\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")
TIMEOUT = 300


def blocks(text):
    """(line number, marker or None, body lines) of each fenced block."""
    lines = text.split("\n")
    i, mark = 0, None
    while i < len(lines):
        m = MARK.match(lines[i])
        if m:
            mark = m.group(1)
        elif FENCE.match(lines[i]):
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            yield start, mark, body
            mark = None
        elif lines[i].strip():
            mark = None if not lines[i].startswith("<!--") else mark
        i += 1


def commands(body):
    """(command, expected stdout lines) of a run block."""
    out = []
    for line in body:
        if line.startswith("# ") or line == "#":
            if not out:
                raise ValueError("an expected-output line before any command: %r" % line)
            out[-1][1].append(line[2:])
        elif line.strip():
            out.append((line, []))
    return out


def matches(want, got):
    """got (a line) against want, where "..." matches any text."""
    pattern = ".*".join(re.escape(part) for part in want.split("..."))
    return re.fullmatch(pattern, got) is not None


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    url = sys.argv[1].rstrip("/")
    readme = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "clients", "README.md")
    hostport = urllib.parse.urlsplit(url).netloc
    text = open(readme, encoding="utf-8").read().replace("localhost:8080", hostport)
    work = tempfile.mkdtemp(prefix="gradd-clients-readme.")
    failures, ran = [], 0
    try:
        shutil.copytree(os.path.join(ROOT, "clients"), os.path.join(work, "clients"),
                        ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
        env = dict(os.environ, PATH="/usr/bin:/bin:" + os.environ.get("PATH", ""), HOME=work,
                   PYTHONDONTWRITEBYTECODE="1")
        env.pop("PYTHONPATH", None)
        env.pop("GRADD_URL", None)
        for line, mark, body in blocks(text):
            where = "%s:%d" % (os.path.relpath(readme, ROOT), line)
            if mark is None:
                failures.append("%s: a fenced block without a <!-- readme-test: ... --> marker" % where)
                continue
            if mark.startswith("file"):
                name = mark.split(None, 1)[1]
                with open(os.path.join(work, name), "w", encoding="utf-8") as f:
                    f.write("\n".join(body) + "\n")
                continue
            for cmd, want in commands(body):
                ran += 1
                print("  $ %s" % cmd, flush=True)
                try:
                    p = subprocess.run(["sh", "-c", cmd], cwd=work, env=env, capture_output=True, text=True,
                                       timeout=TIMEOUT)
                except subprocess.TimeoutExpired:
                    failures.append("%s: `%s` ran over %d s" % (where, cmd, TIMEOUT))
                    continue
                if p.returncode != 0:
                    failures.append("%s: `%s` exited %d: %s%s" % (where, cmd, p.returncode, p.stdout[-800:],
                                                                    p.stderr[-1500:]))
                    continue
                got = p.stdout.rstrip("\n").split("\n") if p.stdout.strip() else []
                if want and (len(got) != len(want) or not all(matches(w, g) for w, g in zip(want, got))):
                    failures.append("%s: `%s` printed\n%s\n  expected\n%s" % (
                        where, cmd, "\n".join("    " + g for g in got), "\n".join("    " + w for w in want)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL " + f)
    print("clients README: %d commands, %d failed" % (ran, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
