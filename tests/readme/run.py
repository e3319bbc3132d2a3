#!/usr/bin/python3
"""tests/readme/run.py GRADD_BIN -- run every command of README.md.

Each fenced block of README.md that holds commands (```sh, ```python) must
follow a marker line `<!-- readme-test: KIND -->`; a block without one, or
of an unknown kind, fails the test, so a command cannot be added untested.
Kinds (docs/testing.md says the same for readers):

  run     each line of the sh block is one command, run with `sh -c` from
          the repository root against a daemon on a free port
          (`localhost:8080` in the text becomes that daemon). Comment lines
          `# ...` right after a command are its expected stdout, line by
          line; `...` in them stands for any text. A line
          `sudo apt-get install -y PKGS` cannot run unprivileged: it passes
          when every package named is installed (then it does nothing).
  python  the block is written to a file and run as README says, with
          `PYTHONPATH=clients/python /usr/bin/python3 FILE`, against the
          same daemon.
  daemon  each line starts a daemon (`make run`, `build/gradd serve ...`);
          it is started on a free port (its port settings rewritten), must
          answer /readyz with 200, and must exit on SIGTERM (gradd itself
          with status 0).
  deploy  Docker, compose and Kubernetes commands. No container engine runs
          on the project's machines, so they are checked without one:
          `docker build -t TAG DIR` needs DIR/Dockerfile; `docker run ...
          -p H:C ... TAG` needs that TAG built and C to be the Dockerfile's
          EXPOSE and GRADD_PORT; `docker compose -f FILE ...` needs FILE to
          be a compose file whose services include gradd replicas;
          `kubectl apply -k DIR` is rendered with `kubectl kustomize DIR`.
          `make test-image` replays the Dockerfile itself.
  self    `make test`: the command whose run includes this test.

Also checked: every relative link of README.md and docs/*.md names a file
that exists. Exit status 0 only when everything passed.
"""
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MARK = re.compile(r"^<!--\s*readme-test:\s*([a-z-]+)\s*-->\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")
COMMAND_LANGS = {"sh", "bash", "shell", "console", "python", "py"}
TIMEOUT = 300  # seconds for any one command

failures = []


def fail(where, msg):
    failures.append(f"{where}: {msg}")
    print(f"  FAIL {msg}", flush=True)


def blocks(path):
    """Yield (line number, language, kind or None, lines) of each fence."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i, kind = 0, None
    while i < len(lines):
        m = MARK.match(lines[i])
        if m:
            kind = m.group(1)
            i += 1
            continue
        f = FENCE.match(lines[i])
        if f:
            start, lang, body = i + 1, f.group(1), []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            yield start, lang, kind, body
            kind = None
        elif lines[i].strip():
            kind = None  # a mark belongs to the fence right below it
        i += 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(port, seconds, proc=None):
    """Whether http://127.0.0.1:port/readyz answers 200 within seconds
    (False at once when proc, the daemon's process, has exited)."""
    end = time.time() + seconds
    while time.time() < end and (proc is None or proc.poll() is None):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def pattern(expected):
    """A regex for one expected output line: `...` is any text."""
    return re.compile("^" + ".*".join(re.escape(p) for p in expected.split("...")) + "$")


def commands(body):
    """(command, [expected lines]) for each command line of an sh block."""
    out = []
    for line in body:
        if not line.strip():
            continue
        if line.startswith("#"):
            if not out:
                raise ValueError(f"output line before any command: {line}")
            out[-1][1].append(line[2:] if line.startswith("# ") else line[1:])
        else:
            out.append((line, []))
    return out


def strip_comment(cmd):
    """The command without a trailing `  # comment`."""
    return re.sub(r"\s+#\s.*$", "", cmd)


def debian_env(**extra):
    """The environment of a Debian user: Debian's own python3 and tools
    first on PATH (a pyenv or venv of the machine running the test must
    not stand in for them)."""
    path = "/usr/local/bin:/usr/bin:/bin:" + os.environ.get("PATH", "")
    return dict(os.environ, PATH=path, PYTHONDONTWRITEBYTECODE="1", **extra)


def run_block(where, body, url):
    env = debian_env()
    for cmd, expected in commands(body):
        shown = cmd
        cmd = strip_comment(cmd).replace("localhost:8080", url.split("//", 1)[1])
        print(f"  $ {shown}", flush=True)
        words = shlex.split(cmd)
        if words[:3] == ["sudo", "apt-get", "install"]:
            pkgs = [w for w in words[3:] if not w.startswith("-")]
            missing = [p for p in pkgs if subprocess.run(
                ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True
            ).stdout != "install ok installed"]
            if missing:
                fail(where, f"not installed (run the line as root): {' '.join(missing)}")
            continue
        try:
            r = subprocess.run(["sh", "-c", cmd], cwd=ROOT, env=env, capture_output=True, text=True,
                               timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            fail(where, f"timed out after {TIMEOUT} s: {shown}")
            continue
        if r.returncode != 0:
            fail(where, f"exit status {r.returncode}: {shown}\n{r.stdout}{r.stderr}")
            continue
        got = r.stdout.rstrip("\n").split("\n") if r.stdout.strip() else []
        if expected and (len(got) != len(expected) or
                         not all(pattern(e).match(g) for e, g in zip(expected, got))):
            fail(where, f"{shown}\n    expected: {expected}\n    got:      {got}")


def run_python(where, body, url):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "example.py")
        with open(path, "w") as f:
            f.write("\n".join(body).replace("http://localhost:8080", url) + "\n")
        env = debian_env(PYTHONPATH=os.path.join(ROOT, "clients", "python"))
        t = time.time()
        try:
            r = subprocess.run(["/usr/bin/python3", path], cwd=ROOT, env=env, capture_output=True, text=True,
                               timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            fail(where, f"timed out after {TIMEOUT} s")
            return
        for line in r.stdout.splitlines():
            print(f"    {line}")
        print(f"  ({time.time() - t:.1f} s)")
        if r.returncode != 0:
            fail(where, f"exit status {r.returncode}\n{r.stderr}")


def run_daemons(where, body):
    for line in body:
        if not line.strip() or line.startswith("#"):
            continue
        cmd = strip_comment(line)
        port = free_port()
        if re.search(r"GRADD_PORT=\d+", cmd):
            cmd = re.sub(r"GRADD_PORT=\d+", f"GRADD_PORT={port}", cmd)
        else:
            cmd = f"GRADD_PORT={port} {cmd}"
        cmd = re.sub(r"--port[ =]\d+", f"--port {port}", cmd)
        words = shlex.split(cmd)
        env = debian_env(GRADD_BIND="127.0.0.1")
        while words and re.match(r"^[A-Z_]+=", words[0]):
            k, v = words.pop(0).split("=", 1)
            env[k] = v
        if words[:2] == ["make", "run"]:
            env.pop("MAKEFLAGS", None)
            env.pop("MAKELEVEL", None)
        elif not words or words[0] != "build/gradd":
            fail(where, f"not a daemon command this test knows: {line}")
            continue
        print(f"  $ {line}   (on port {port})", flush=True)
        for attempt in (1, 2):
            # a second try only when the first never came up: another make
            # may be relinking build/gradd at that moment
            if start_daemon(where, line, words, env, port, last=attempt == 2):
                break


def start_daemon(where, line, words, env, port, last):
    """Start one daemon command, wait for it to be ready, stop it with
    SIGTERM. False only when it never came up and this was not the last
    try (another make may be relinking build/gradd at that moment)."""
    log = tempfile.TemporaryFile()
    p = subprocess.Popen(words, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        if not ready(port, 180, p):
            log.seek(0)
            if not last:
                print("  (no answer from /readyz; trying once more)", flush=True)
                return False
            fail(where, f"no 200 from /readyz: {line}\n{log.read().decode(errors='replace')[-2000:]}")
            return True
        os.killpg(p.pid, signal.SIGTERM)
        try:
            rc = p.wait(timeout=40)
        except subprocess.TimeoutExpired:
            fail(where, f"still running 40 s after SIGTERM: {line}")
            return True
        # make itself dies of the signal; gradd must drain and exit 0
        if words[0] == "build/gradd" and rc != 0:
            log.seek(0)
            fail(where, f"exit status {rc} after SIGTERM: {line}\n{log.read().decode(errors='replace')[-2000:]}")
        return True
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        log.close()


def dockerfile_port():
    text = open(os.path.join(ROOT, "Dockerfile")).read()
    expose = re.findall(r"^EXPOSE\s+(\d+)", text, re.M)
    env = re.findall(r"^ENV\s+GRADD_PORT=(\d+)", text, re.M)
    return expose, env


def check_deploy(where, body):
    built = set()
    for line in body:
        if not line.strip() or line.startswith("#"):
            continue
        words = shlex.split(strip_comment(line))
        print(f"  $ {line}   (checked without a container engine)", flush=True)
        if words[:2] == ["docker", "build"]:
            tag = words[words.index("-t") + 1] if "-t" in words else None
            ctx = words[-1]
            if not os.path.isfile(os.path.join(ROOT, ctx, "Dockerfile")):
                fail(where, f"no Dockerfile in {ctx}")
            built.add(tag)
        elif words[:2] == ["docker", "run"]:
            if words[-1] not in built:
                fail(where, f"image {words[-1]} is not built by an earlier line")
            expose, env = dockerfile_port()
            for i, w in enumerate(words):
                if w == "-p":
                    inside = words[i + 1].split(":")[-1]
                    if [inside] != expose or [inside] != env:
                        fail(where, f"-p {words[i + 1]}: the Dockerfile has EXPOSE {expose}, GRADD_PORT {env}")
        elif words[:2] == ["docker", "compose"]:
            path = os.path.join(ROOT, words[words.index("-f") + 1])
            try:
                import yaml
                services = yaml.safe_load(open(path)).get("services", {})
            except Exception as e:  # noqa: BLE001 -- any unreadable file fails the check
                fail(where, f"{path}: {e}")
                continue
            if not any(s.startswith("gradd") for s in services) or "nginx" not in services:
                fail(where, f"{path}: no gradd replicas or no nginx among {sorted(services)}")
        elif words[:3] == ["kubectl", "apply", "-k"]:
            r = subprocess.run(["kubectl", "kustomize", words[3]], cwd=ROOT, capture_output=True, text=True,
                               timeout=120)
            if r.returncode != 0 or "kind: Deployment" not in r.stdout:
                fail(where, f"kubectl kustomize {words[3]}: {r.returncode}\n{r.stderr}")
        else:
            fail(where, f"a deploy command this test does not know: {line}")


def check_links(path):
    text = open(path, encoding="utf-8").read()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"^[a-z]+:", target):
            continue
        if not os.path.exists(os.path.join(os.path.dirname(path), target)):
            fail(os.path.relpath(path, ROOT), f"link to a missing file: {target}")


def main():
    gradd = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "gradd"))
    readme = os.path.join(ROOT, "README.md")
    port = free_port()
    log = tempfile.TemporaryFile()
    daemon = subprocess.Popen([gradd, "serve", "--port", str(port), "--bind", "127.0.0.1"], cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        if not ready(port, 30, daemon):
            log.seek(0)
            print(log.read().decode(errors="replace")[-2000:])
            print("readme: the daemon did not start")
            return 1
        n = 0
        for line, lang, kind, body in blocks(readme):
            where = f"README.md:{line}"
            if lang not in COMMAND_LANGS:
                continue
            n += 1
            print(f"== {where} ({kind})", flush=True)
            if kind == "run" and lang in ("sh", "bash", "shell"):
                run_block(where, body, url)
            elif kind == "python" and lang in ("python", "py"):
                run_python(where, body, url)
            elif kind == "daemon":
                run_daemons(where, body)
            elif kind == "deploy":
                check_deploy(where, body)
            elif kind == "self":
                if [b for b in body if b.strip()] and strip_comment(body[0]) != "make test":
                    fail(where, "a `self` block is `make test` alone")
            else:
                fail(where, f"a {lang} block without a known `<!-- readme-test: KIND -->` mark ({kind})")
        for path in [readme] + sorted(
                os.path.join(ROOT, "docs", f) for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md")):
            check_links(path)
        if daemon.poll() is not None:
            failures.append("the daemon died during the test")
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        log.close()
    if failures:
        print(f"readme: {len(failures)} failure(s):")
        for f in failures:
            print(f"  {f}")
        return 1
    print(f"readme: all {n} command blocks of README.md passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
