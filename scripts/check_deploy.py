#!/usr/bin/env python3
"""Consistency checks of deploy/ that no off-the-shelf linter makes (run by scripts/check-deploy).

- deploy/grafana/pgsteer.json parses, and every PromQL expression in it parses (promtool, with
  Grafana's variables replaced by sample values);
- every alert in deploy/prometheus/alerts.yml has severity, summary, description and a
  runbook_url whose file and section exist, and a unit test in alerts_test.yml where it fires and
  one where it stays quiet;
- the drain adds up: compose's stop_grace_period, the Kubernetes terminationGracePeriodSeconds
  (minus the preStop sleep) and systemd's TimeoutStopSec all exceed shutdown_timeout;
- every file a kustomization names exists and parses (what `kubectl kustomize` would check first);
- every file the Dockerfile copies from the build context exists and is not in .dockerignore, and
  no source file the build compiles is excluded by .dockerignore.
Prints one line per problem; exits 1 if there is any.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
problems = []


def problem(message):
    problems.append(message)


def path(*parts):
    return os.path.join(ROOT, *parts)


def load_yaml(relative):
    with open(path(relative)) as f:
        return yaml.safe_load(f)


def duration_seconds(text):
    """pgsteer / compose / systemd durations: 30s, 1m, 500ms, 45, 1m30s."""
    text = str(text).strip()
    if re.fullmatch(r"\d+", text):
        return float(text)
    total = 0.0
    units = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600}
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|min|s|m|h)", text):
        total += float(number) * units[unit]
    return total


# --- Grafana ------------------------------------------------------------------------------------

GRAFANA_VARIABLES = {
    "$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h", "${datasource}": "x",
    "$instance": ".*",
}


def dashboard_expressions(dashboard):
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(dashboard.get("panels", []))
    walk(dashboard.get("annotations", {}))
    return found


def check_dashboard():
    try:
        with open(path("deploy/grafana/pgsteer.json")) as f:
            dashboard = json.load(f)
    except (OSError, ValueError) as e:
        problem(f"deploy/grafana/pgsteer.json: {e}")
        return
    for key in ("title", "uid", "panels"):
        if key not in dashboard:
            problem(f"deploy/grafana/pgsteer.json: no {key}")
    expressions = dashboard_expressions(dashboard)
    if not expressions:
        problem("deploy/grafana/pgsteer.json: no PromQL expressions found")
        return
    rules = []
    for i, expr in enumerate(expressions):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        if "$" in expr:
            problem(f"deploy/grafana/pgsteer.json: unknown variable in {expr!r}")
        rules.append({"record": f"dashboard:expr_{i}", "expr": expr})
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
        name = f.name
    try:
        result = subprocess.run(["promtool", "check", "rules", name], capture_output=True, text=True)
        if result.returncode != 0:
            problem("deploy/grafana/pgsteer.json: PromQL does not parse:\n" + result.stdout + result.stderr)
    finally:
        os.unlink(name)


# --- alerts -------------------------------------------------------------------------------------

def github_anchor(heading):
    slug = heading.strip().lower()
    slug = re.sub(r"[^\w\- ]", "", slug)
    return slug.replace(" ", "-")


def anchors_of(markdown_file):
    with open(markdown_file) as f:
        return {github_anchor(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", f.read(), re.M)}


def check_alerts():
    rules = [r for g in load_yaml("deploy/prometheus/alerts.yml")["groups"] for r in g["rules"]]
    tests = load_yaml("deploy/prometheus/alerts_test.yml")["tests"]
    firing, quiet = set(), set()
    for test in tests:
        for case in test.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    for rule in rules:
        name = rule.get("alert")
        if not name:
            continue
        if rule.get("labels", {}).get("severity") not in ("critical", "warning"):
            problem(f"alerts.yml: {name}: severity must be critical or warning")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not annotations.get(key):
                problem(f"alerts.yml: {name}: no {key} annotation")
        url = annotations.get("runbook_url", "")
        file, _, anchor = url.partition("#")
        if not os.path.isfile(path(file)):
            problem(f"alerts.yml: {name}: runbook {file} does not exist")
        elif anchor not in anchors_of(path(file)):
            problem(f"alerts.yml: {name}: {file} has no section #{anchor}")
        if name not in firing:
            problem(f"alerts_test.yml: no case where {name} fires")
        if name not in quiet:
            problem(f"alerts_test.yml: no case where {name} stays quiet")


# --- drain timeouts -----------------------------------------------------------------------------

def shutdown_timeout(config_file):
    return duration_seconds(load_yaml(config_file).get("shutdown_timeout", "30s"))


def check_drain():
    compose = load_yaml("deploy/compose/docker-compose.yml")
    grace = duration_seconds(compose["services"]["pgsteer"].get("stop_grace_period", "10s"))
    timeout = shutdown_timeout("deploy/compose/pgsteer.yaml")
    if grace <= timeout:
        problem(f"compose: stop_grace_period {grace}s must exceed shutdown_timeout {timeout}s")

    deployment = load_yaml("deploy/kubernetes/base/deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    grace = pod["terminationGracePeriodSeconds"]
    container = pod["containers"][0]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    pre_stop = float(command[-1]) if command[0] == "sleep" else 0
    configs = ["deploy/kubernetes/base/pgsteer.yaml"] + [
        f"deploy/kubernetes/overlays/{o}/pgsteer.yaml"
        for o in sorted(os.listdir(path("deploy/kubernetes/overlays")))
        if os.path.isfile(path("deploy/kubernetes/overlays", o, "pgsteer.yaml"))]
    for config in configs:
        timeout = shutdown_timeout(config)
        if grace <= pre_stop + timeout:
            problem(f"kubernetes: terminationGracePeriodSeconds {grace} must exceed preStop "
                    f"{pre_stop}s + shutdown_timeout {timeout}s of {config}")

    with open(path("deploy/systemd/pgsteer.service")) as f:
        unit = f.read()
    match = re.search(r"^TimeoutStopSec=(\S+)", unit, re.M)
    stop = duration_seconds(match.group(1)) if match else 90
    if stop <= 30:
        problem(f"systemd: TimeoutStopSec {stop}s must exceed the default shutdown_timeout 30s")
    for key in ("ExecReload=/bin/kill -HUP $MAINPID", "KillSignal=SIGTERM", "NoNewPrivileges=yes",
                "ProtectSystem=strict", "PrivateTmp=yes"):
        if key not in unit:
            problem(f"systemd: pgsteer.service has no {key}")


# --- kustomize without kubectl ------------------------------------------------------------------

def check_kustomization(directory, seen):
    if directory in seen:
        return
    seen.add(directory)
    file = os.path.join(directory, "kustomization.yaml")
    if not os.path.isfile(file):
        problem(f"{os.path.relpath(directory, ROOT)}: no kustomization.yaml")
        return
    with open(file) as f:
        k = yaml.safe_load(f)
    names = list(k.get("resources", []))
    names += [p["path"] for p in k.get("patches", []) if "path" in p]
    for generator in k.get("configMapGenerator", []) + k.get("secretGenerator", []):
        names += [entry.split("=", 1)[-1] for entry in generator.get("files", [])]
    for name in names:
        target = os.path.normpath(os.path.join(directory, name))
        if os.path.isdir(target):
            check_kustomization(target, seen)
        elif not os.path.isfile(target):
            problem(f"{os.path.relpath(file, ROOT)}: {name} does not exist")
        else:
            with open(target) as f:
                try:
                    list(yaml.safe_load_all(f))
                except yaml.YAMLError as e:
                    problem(f"{os.path.relpath(target, ROOT)}: {e}")


# --- Dockerfile and .dockerignore ---------------------------------------------------------------

def ignored(relative, patterns):
    """Docker's rule, enough for the patterns we use: a pattern matches a path or a parent of it;
    the last matching pattern wins, `!` re-includes."""
    import fnmatch
    parts = relative.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase(p, pattern) for p in prefixes):
            result = not negate
    return result


def check_docker():
    with open(path(".dockerignore")) as f:
        patterns = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    with open(path("deploy/docker/Dockerfile")) as f:
        dockerfile = f.read()
    for match in re.finditer(r"^COPY\s+(?!--from)(.+)$", dockerfile, re.M):
        sources = match.group(1).split()[:-1]
        for source in sources:
            if source == ".":
                continue
            if not os.path.exists(path(source)):
                problem(f"Dockerfile: COPY {source}: no such file")
            elif ignored(source, patterns):
                problem(f"Dockerfile: COPY {source}: excluded by .dockerignore")
    files = subprocess.run(["git", "ls-files", "protocol", "config", "tls", "proxy", "asio", "cmake",
                            "CMakeLists.txt"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    for file in files:
        if ignored(file, patterns):
            problem(f".dockerignore excludes {file}, which the image build needs")


def main():
    check_dashboard()
    check_docker()
    check_alerts()
    check_drain()
    seen = set()
    overlays = path("deploy/kubernetes/overlays")
    for overlay in sorted(os.listdir(overlays)):
        check_kustomization(os.path.join(overlays, overlay), seen)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
