#!/usr/bin/python3
"""tests/deploy/check-config.py GRADD -- the deployment files agree with gradd.

Reads `GRADD serve --help` for gradd's flags and defaults, then checks that
Dockerfile, deploy/nginx.conf, deploy/docker-compose.yml,
deploy/prometheus.yml and deploy/k8s/*.yaml name only variables gradd has,
and that their limits and timeouts fit gradd's:
  - nginx's client_max_body_size is gradd's body limit;
  - nginx waits longer than gradd's deadline and closes idle upstream
    connections before gradd's idle timeout;
  - nginx retries failed POSTs (non_idempotent) on errors and on 503;
  - nginx's replicas are the compose file's gradd services and Prometheus's
    targets;
  - the grace periods (compose stop_grace_period, Kubernetes
    terminationGracePeriodSeconds with the preStop sleep) outlast gradd's
    drain (GRADD_GRACE_S);
  - the probes are /readyz and /healthz on the container's port, the
    selectors match the pod labels, and the pods run as the image's user.
Prints the checks that fail (all of them with CHECK_CONFIG_VERBOSE=1) and
a count; exits 1 when any fails. Needs python3-yaml.
"""
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
failures = []
checks = 0
verbose = os.environ.get("CHECK_CONFIG_VERBOSE") == "1"


def check(ok, what):
    global checks
    checks += 1
    if verbose or not ok:
        print("check-config: %s %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def seconds(v):
    """nginx/compose durations: 30s, 1m, 500ms, 30 -> seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", str(v).strip())
    n, unit = float(m.group(1)), m.group(2) or "s"
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def size(v):
    m = re.fullmatch(r"(\d+)([kKmMgG])?", v.strip())
    return int(m.group(1)) * {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[(m.group(2) or "").lower() or None]


# ---- gradd's flags and defaults -------------------------------------------
gradd = sys.argv[1]
helptext = subprocess.run([gradd, "serve", "--help"], capture_output=True, text=True).stdout
defaults = {}
for line in helptext.splitlines():
    m = re.match(r"\s+--\S+\s+(GRADD_\w+)\s+.*\(default \"?([^\")]*)\"?\)$", line)
    if m:
        defaults[m.group(1)] = m.group(2)
check(len(defaults) > 10, "gradd serve --help lists %d GRADD_* variables" % len(defaults))


def known(names, where):
    unknown = sorted(n for n in names if n.startswith("GRADD_") and n not in defaults)
    check(not unknown, "%s sets only variables gradd has%s" % (where, ": unknown " + ", ".join(unknown) if unknown else ""))


# ---- Dockerfile -------------------------------------------------------------
dockerfile = read("Dockerfile")
image_env = dict(re.findall(r"^ENV (\w+)=(\S*)$", dockerfile, re.M))
known(image_env, "Dockerfile ENV")
env = dict(defaults, **image_env)
expose = re.findall(r"^EXPOSE (\d+)$", dockerfile, re.M)
check(expose == [env["GRADD_PORT"]], "Dockerfile EXPOSE %s is GRADD_PORT %s" % (expose, env["GRADD_PORT"]))
check(env["GRADD_BIND"] == "0.0.0.0", "the image binds 0.0.0.0")
check(re.search(r"^STOPSIGNAL SIGTERM$", dockerfile, re.M) is not None, "Dockerfile STOPSIGNAL SIGTERM")
check(re.search(r"^HEALTHCHECK .*CMD gradd health ", dockerfile, re.M | re.S) is not None,
      "Dockerfile HEALTHCHECK runs gradd health (no curl)")
image_uid = int(re.search(r"^GRADD_UID=(\d+)$", read("deploy/image.sh"), re.M).group(1))

# ---- nginx.conf -------------------------------------------------------------
conf = read("deploy/nginx.conf")


def directive(name):
    vals = re.findall(r"^\s*%s\s+([^;]*);" % re.escape(name), conf, re.M)
    check(len(vals) == 1, "nginx.conf has one %s (%s)" % (name, vals))
    return vals[0] if vals else "0"


max_body = int(env["GRADD_MAX_BODY_BYTES"])
deadline_s = int(env["GRADD_DEADLINE_MS"]) / 1000
idle_s = int(env["GRADD_IDLE_TIMEOUT_S"])
grace_s = int(env["GRADD_GRACE_S"])
check(size(directive("client_max_body_size")) == max_body,
      "nginx client_max_body_size is GRADD_MAX_BODY_BYTES (%d)" % max_body)
check(seconds(directive("proxy_read_timeout")) > deadline_s,
      "nginx proxy_read_timeout outlasts GRADD_DEADLINE_MS (%g s)" % deadline_s)
upstream = re.search(r"upstream gradd \{(.*?)\n    \}", conf, re.S).group(1)
up_keepalive = re.search(r"^\s*keepalive_timeout\s+(\S+);", upstream, re.M)
check(up_keepalive is not None and seconds(up_keepalive.group(1)) < idle_s,
      "nginx closes idle upstream connections before GRADD_IDLE_TIMEOUT_S (%d s)" % idle_s)
nu = directive("proxy_next_upstream").split()
check({"error", "timeout", "http_503", "non_idempotent"} <= set(nu),
      "nginx retries POSTs on another replica on error, timeout and 503")
check("http_504" not in nu, "nginx does not retry gradd's 504 (deadline)")
replicas = re.findall(r"^\s*server\s+([\w.-]+):(\d+)\s+([^;]*);", upstream, re.M)
check(all(p == env["GRADD_PORT"] and "max_fails" in rest for _, p, rest in replicas),
      "nginx's replicas listen on GRADD_PORT and have max_fails")

# ---- docker-compose.yml ----------------------------------------------------
compose = yaml.safe_load(read("deploy/docker-compose.yml"))
services = compose["services"]
gradd_services = sorted(n for n, s in services.items() if s.get("build", {}).get("dockerfile") == "Dockerfile")
check(len(gradd_services) == 3, "compose runs 3 gradd replicas (%s)" % ", ".join(gradd_services))
check(sorted(h for h, _, _ in replicas) == gradd_services, "nginx's upstream lists exactly the compose replicas")
for n in gradd_services:
    s = services[n]
    known(s.get("environment", {}), "compose %s" % n)
    g = int(s.get("environment", {}).get("GRADD_GRACE_S", grace_s))
    check(seconds(s.get("stop_grace_period", "10s")) > g, "compose %s: stop_grace_period outlasts GRADD_GRACE_S" % n)
    check("cpus" in s, "compose %s: a CPU limit (gradd's worker count)" % n)
lb = services["nginx"]
check("./nginx.conf:/etc/nginx/gradd.conf:ro" in lb["volumes"] and "/etc/nginx/gradd.conf" in lb["command"],
      "compose nginx runs deploy/nginx.conf")
prom = services.get("prometheus")
check(prom is not None and "monitoring" in prom.get("profiles", []), "compose: Prometheus, optional (profile)")
targets = yaml.safe_load(read("deploy/prometheus.yml"))["scrape_configs"][0]["static_configs"][0]["targets"]
check(sorted(targets) == ["%s:%s" % (n, env["GRADD_PORT"]) for n in gradd_services],
      "Prometheus scrapes each replica's /metrics")

# ---- Kubernetes --------------------------------------------------------------
docs = {}
for f in sorted(os.listdir(os.path.join(ROOT, "deploy/k8s"))):
    for d in yaml.safe_load_all(read("deploy/k8s/" + f)):
        if d and "kind" in d and d["kind"] != "Kustomization":
            docs[d["kind"]] = d
kust = yaml.safe_load(read("deploy/k8s/kustomization.yaml"))
check(sorted(kust["resources"]) == sorted(f for f in os.listdir(os.path.join(ROOT, "deploy/k8s"))
                                          if f != "kustomization.yaml"),
      "kustomization.yaml lists every manifest")
check(set(docs) >= {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"},
      "k8s: Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget")
dep = docs["Deployment"]
pod = dep["spec"]["template"]["spec"]
labels = dep["spec"]["template"]["metadata"]["labels"]
c = pod["containers"][0]
kenv = {e["name"]: e["value"] for e in c.get("env", [])}
known(kenv, "k8s Deployment env")
kgrace = int(kenv.get("GRADD_GRACE_S", grace_s))
pre = c["lifecycle"]["preStop"]["exec"]["command"]
pre_s = float(pre[1]) if pre[0] == "sleep" else 0
check(pre_s > 0, "k8s: a preStop sleep (%g s)" % pre_s)
check(pod["terminationGracePeriodSeconds"] > pre_s + kgrace,
      "k8s terminationGracePeriodSeconds %d > preStop %g s + GRADD_GRACE_S %d s"
      % (pod["terminationGracePeriodSeconds"], pre_s, kgrace))
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
check(ports.get("http") == int(env["GRADD_PORT"]), "k8s containerPort is GRADD_PORT")
rp, lp = c["readinessProbe"]["httpGet"], c["livenessProbe"]["httpGet"]
check(rp["path"] == "/readyz" and rp["port"] in ("http", ports.get("http")), "k8s readiness on /readyz")
check(lp["path"] == "/healthz" and lp["port"] in ("http", ports.get("http")), "k8s liveness on /healthz")
res = c["resources"]
check("cpu" in res["limits"] and "memory" in res["limits"] and "cpu" in res["requests"], "k8s: CPU and memory resources")
check(pod["securityContext"].get("runAsUser") == image_uid, "k8s runs as the image's user (uid %d)" % image_uid)
sel = dep["spec"]["selector"]["matchLabels"]
for kind in ("Service", "PodDisruptionBudget"):
    s = docs[kind]["spec"]["selector"]
    s = s.get("matchLabels", s)
    check(s.items() <= labels.items() and s, "k8s %s selects the Deployment's pods" % kind)
check(sel.items() <= labels.items(), "k8s Deployment selector matches its pod labels")
check(docs["Service"]["spec"]["ports"][0]["targetPort"] in ("http", ports.get("http")), "k8s Service targets the http port")
ref = docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
check(ref["kind"] == "Deployment" and ref["name"] == dep["metadata"]["name"], "k8s HPA scales the Deployment")

print("check-config: %d checks of the deployment files against gradd serve --help, %d failed"
      % (checks, len(failures)))
sys.exit(1 if failures else 0)
