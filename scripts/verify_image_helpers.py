"""JSON and YAML work for scripts/verify_image.sh (stdlib + PyYAML; run with the project's venv).

    parity INSIDE OUTSIDE              same verdict, probability within 1e-3 (exit 1 if not)
    timing INSIDE OUTSIDE              medians of timings.total_ms, inside vs outside
    podman-yaml RENDERED IMAGE REDIS   the rendered overlay as `podman play kube` takes it
    probes PLAYED                      startupProbe path, its budget (s), readinessProbe path
    same-config RENDERED MOUNTED       the mounted file is the ConfigMap's (exit 1 if not)
    configmap RENDERED                 the ConfigMap's config.yaml
    context-probe                      Python source: what the container's process is allowed
"""

from __future__ import annotations

import json
import shlex
import statistics
import sys
from typing import Any

TOLERANCE = 1e-3
PLAYED_KINDS = ("ConfigMap", "PersistentVolumeClaim", "Deployment")


def results(path: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Analysis results (one JSON per line) and the {"load": ...} lines between them."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    return [r for r in rows if "verdict" in r], [r["load"] for r in rows if "load" in r]


def parity(inside_path: str, outside_path: str) -> int:
    (inside, *_), _ = results(inside_path)
    (outside, *_), _ = results(outside_path)
    delta = abs(inside["probability"] - outside["probability"])
    same = inside["verdict"] == outside["verdict"] and delta <= TOLERANCE
    print(
        f"{'OK' if same else 'MISMATCH'}: inside {inside['verdict']} p={inside['probability']}, "
        f"outside {outside['verdict']} p={outside['probability']} (|dp| = {delta:.2g}, "
        f"tolerance {TOLERANCE})"
    )
    return 0 if same else 1


def timing(inside_path: str, outside_path: str) -> int:
    inside, loads_in = results(inside_path)
    outside, loads_out = results(outside_path)
    ms_in = [r["timings"]["total_ms"] for r in inside]
    ms_out = [r["timings"]["total_ms"] for r in outside]
    m_in, m_out = statistics.median(ms_in), statistics.median(ms_out)
    media = inside[0]["media"]
    print(
        f"{media['width']}x{media['height']}, {media['duration_s']} s: "
        f"inside median {m_in:.0f} ms {[round(x) for x in ms_in]}, "
        f"outside median {m_out:.0f} ms {[round(x) for x in ms_out]}, "
        f"inside/outside = {m_in / m_out:.3f}; verdicts {inside[0]['verdict']} / "
        f"{outside[0]['verdict']}; load before each run (in | out): "
        + "; ".join(f"{a} | {b}" for a, b in zip(loads_in, loads_out, strict=False))
    )
    return 0


def podman_yaml(rendered: str, image: str, redis_ip: str) -> int:
    import yaml

    kept = []
    for doc in yaml.safe_load_all(open(rendered)):
        if not doc:
            continue
        if doc["kind"] not in PLAYED_KINDS:
            name = doc["metadata"]["name"]
            print(f"  not played: {doc['kind']} {name} (no podman equivalent)", file=sys.stderr)
            continue
        if doc["kind"] == "Deployment":
            pod = doc["spec"]["template"]["spec"]
            # The cluster's DNS name for Redis: here the Redis pod's address.
            pod["hostAliases"] = [{"ip": redis_ip, "hostnames": ["deepfake-stream-redis"]}]
            for container in pod["containers"]:
                assert container["image"].startswith("ghcr.io/deepfakestream/deepfake-stream:")
                container["image"] = image
                # The kubelet applies the pod's runAsUser/runAsGroup to each container;
                # podman 4 reads them on the container only.
                context = container.setdefault("securityContext", {})
                for key in ("runAsUser", "runAsGroup"):
                    context.setdefault(key, pod["securityContext"][key])
                if "livenessProbe" in container:
                    container["livenessProbe"] = exec_probe(container, container["livenessProbe"])
        kept.append(doc)
    yaml.safe_dump_all(kept, sys.stdout, sort_keys=False)
    return 0


def exec_probe(container: dict[str, Any], probe: dict[str, Any]) -> dict[str, Any]:
    """An httpGet probe as the same GET from inside the container. The kubelet sends httpGet
    from outside; podman 4 turns it into `curl` inside the container (the image has none), with
    a named port left unresolved (port 0)."""
    get = probe.get("httpGet")
    if get is None:
        return probe
    port = get["port"]
    if isinstance(port, str):
        (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    url = f"http://127.0.0.1:{port}{get['path']}"
    timeout = probe.get("timeoutSeconds", 1)
    code = f'import urllib.request; urllib.request.urlopen("{url}", timeout={timeout})'
    converted = {k: v for k, v in probe.items() if k != "httpGet"}
    # podman 4 joins the command with spaces into a CMD-SHELL: quote the code for sh.
    converted["exec"] = {"command": ["python", "-c", shlex.quote(code)]}
    return converted


def probes(played: str) -> int:
    import yaml

    for doc in yaml.safe_load_all(open(played)):
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "deepfake-stream":
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            startup, readiness = container["startupProbe"], container["readinessProbe"]
            budget = startup["periodSeconds"] * startup["failureThreshold"]
            print(startup["httpGet"]["path"], budget, readiness["httpGet"]["path"])
            return 0
    return 1


def configmap(rendered: str) -> int:
    import yaml

    (config_map,) = [
        doc for doc in yaml.safe_load_all(open(rendered)) if doc and doc["kind"] == "ConfigMap"
    ]
    sys.stdout.write(config_map["data"]["config.yaml"])
    return 0


def same_config(rendered: str, mounted: str) -> int:
    import yaml

    (config_map,) = [
        doc for doc in yaml.safe_load_all(open(rendered)) if doc and doc["kind"] == "ConfigMap"
    ]
    return 0 if config_map["data"]["config.yaml"] == open(mounted).read() else 1


CONTEXT_PROBE = """
import os
status = dict(line.split(":", 1) for line in open("/proc/1/status"))
try:
    open("/app/write-probe", "w")
    root = "WRITABLE"
except OSError as exc:
    root = "read-only (" + exc.strerror + ")"
open("/tmp/write-probe", "w").close()
print("uid=%d gid=%d CapEff=%s NoNewPrivs=%s Seccomp=%s root %s, /tmp writable" % (
    os.getuid(), os.getgid(), status["CapEff"].strip(), status["NoNewPrivs"].strip(),
    status["Seccomp"].strip(), root))
"""


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "context-probe":
        print(CONTEXT_PROBE)
        return 0
    commands = {
        "parity": parity,
        "timing": timing,
        "podman-yaml": podman_yaml,
        "probes": probes,
        "same-config": same_config,
        "configmap": configmap,
    }
    return commands[command](*args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
