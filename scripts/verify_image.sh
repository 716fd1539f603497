#!/usr/bin/env bash
# Build docker/Dockerfile with podman and prove that the image serves, run the way the
# Kubernetes base runs it: non-root (10001), read-only root with a tmpfs /tmp, all capabilities
# dropped, no new privileges. Then the CPU overlay through `podman play kube`.
#
#   scripts/verify_image.sh            # build, run, kube (the whole check)
#   scripts/verify_image.sh build run  # or any of: build run kube compose gpu
#
# No registry, no daemon: the base image is bootstrapped with mmdebstrap when python:3.11-slim
# cannot be pulled, torch comes from pip's local indexes when PyTorch's CPU index does not
# answer, and the machine's CA bundle reaches the build as a secret (never as a layer).
# Figures go to stdout as "FIGURE name: value" lines; a failed check exits non-zero.
# Needs: podman (+ runc), curl, python3; mmdebstrap to bootstrap a base; the project's venv
# (.venv, or DFS_CLI) for the outside-the-container comparison. Not part of `make test`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

IMAGE=${IMAGE:-localhost/deepfake-stream:verify}
BASE_IMAGE=${BASE_IMAGE:-docker.io/library/python:3.11-slim-bookworm}
BOOTSTRAP_IMAGE=${BOOTSTRAP_IMAGE:-localhost/deepfake-stream-base:bookworm}
TORCH_INDEX_URL=${TORCH_INDEX_URL:-}  # empty: PyTorch's CPU index, else pip's local indexes
CA_BUNDLE=${CA_BUNDLE:-$(pip config get global.cert 2>/dev/null || echo /etc/ssl/certs/ca-certificates.crt)}
FIXTURE=${FIXTURE:-tests/fixtures/fake_dfdc_2s.mp4}  # committed: parity inside vs outside
CLIP=${CLIP:-$ROOT/../shared/media/video/fake/dfdc_abofeumbvv.mp4}  # 10 s 1080p, if present
REPEAT=${REPEAT:-3}  # timed runs of CLIP inside and outside, interleaved (medians compared)
WORK=${WORK:-${TMPDIR:-/tmp}/deepfake-stream-verify}  # scratch: base.tar, logs, rendered YAML
GRACE_S=45  # terminationGracePeriodSeconds in k8s/base/deployment.yaml
READY_WITHIN_S=180  # the startupProbe's budget: 36 x 5 s
if [[ -z ${DFS_CLI:-} ]]; then
    if [[ -x $ROOT/.venv/bin/deepfake-stream ]]; then
        DFS_CLI=$ROOT/.venv/bin/deepfake-stream
    else
        DFS_CLI=$(command -v deepfake-stream || true)
    fi
fi
# This machine: cgroups v1 in hybrid mode (crun refuses it: runc), no systemd (cgroupfs), and
# no right to raise the default rlimits. A containers.conf carries that to every podman command,
# `play kube` included (which has no --ulimit). PODMAN_DEFAULTS=1 keeps podman's own settings.
if [[ -z ${PODMAN_DEFAULTS:-} && -z ${CONTAINERS_CONF:-} ]]; then
    mkdir -p "$WORK"
    cat >"$WORK/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
    export CONTAINERS_CONF=$WORK/containers.conf
fi
# Python with PyYAML for scripts/verify_image_helpers.py: the venv beside DFS_CLI, else python3.
PY=${PY:-$(dirname "${DFS_CLI:-/nonexistent/x}")/python}
[[ -x $PY ]] || PY=python3
export OMP_WAIT_POLICY=PASSIVE

mkdir -p "$WORK"
CONTAINERS=()
PODS=()
OUTSIDE_PID=

log() { printf '\n== %s\n' "$*" >&2; }
figure() { printf 'FIGURE %s: %s\n' "$1" "$2" | tee -a "$WORK/figures.txt"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

cleanup() {
    local status=$?
    if [[ -n ${OUTSIDE_PID:-} ]]; then kill "$OUTSIDE_PID" 2>/dev/null || true; fi
    if [[ -n ${KEEP:-} ]]; then exit "$status"; fi  # KEEP=1: leave containers and pods running
    for name in "${CONTAINERS[@]}"; do podman rm -f -t 0 "$name" >/dev/null 2>&1 || true; done
    if ((${#PODS[@]})); then kube_down; fi
    exit "$status"
}
trap cleanup EXIT INT TERM

# A fresh Debian machine has none of the engine: as root with apt-get, install what is missing,
# so that this one command is all a clean clone needs. Elsewhere, say what to install.
missing=()
for tool in podman runc mmdebstrap curl; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        log "installing ${missing[*]} from Debian's packages"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        fail "needs ${missing[*]}: install them (Debian: apt-get install ${missing[*]})"
    fi
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Polls URL until it answers 200; prints the seconds it took. Fails after $2 seconds.
wait_200() {
    local url=$1 within=$2 start
    start=$(now)
    while true; do
        if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" || true) == 200 ]]; then
            since "$start"
            return 0
        fi
        if python3 -c "import sys; sys.exit(float(sys.argv[1]) < $within)" "$(since "$start")"; then
            return 1
        fi
        sleep 0.5
    done
}

# ---- the base image and the torch wheels, when no registry or PyTorch index answers ----

base_image() {
    if podman image exists "$BASE_IMAGE" || timeout 60 podman pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
        echo "$BASE_IMAGE"
        return
    fi
    if ! podman image exists "$BOOTSTRAP_IMAGE"; then
        log "no registry answers: bootstrapping $BOOTSTRAP_IMAGE from Debian's packages"
        command -v mmdebstrap >/dev/null || fail "mmdebstrap is needed: apt-get install mmdebstrap"
        # What python:3.11-slim-bookworm brings that the service needs: python3.11 and its
        # venv module, CA certificates, the user tools; libgomp1 for OpenMP.
        mmdebstrap --variant=minbase --quiet \
            --include=python3.11,python3.11-venv,python-is-python3,ca-certificates,libgomp1,passwd \
            bookworm "$WORK/base.tar" >&2
        podman import "$WORK/base.tar" "$BOOTSTRAP_IMAGE" >/dev/null 2>&1 || fail "podman import failed"
        rm -f "$WORK/base.tar"
    fi
    echo "$BOOTSTRAP_IMAGE"
}

# Sets BUILD_ARGS (and the volumes that carry local wheel folders into the build).
torch_source() {
    BUILD_ARGS=()
    if [[ -n $TORCH_INDEX_URL ]]; then
        BUILD_ARGS+=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL")
        TORCH_FROM=$TORCH_INDEX_URL
        return
    fi
    if curl -sf --max-time 15 -o /dev/null https://download.pytorch.org/whl/cpu/torch/; then
        TORCH_FROM="https://download.pytorch.org/whl/cpu (the default)"
        return
    fi
    # PyTorch's index does not answer: use the file:// indexes pip is configured with here,
    # mounted read-only into the build at the same paths (build-time volumes leave no layer).
    local urls=() torch_index="" url dir
    read -r -a urls <<<"$(pip config get global.extra-index-url 2>/dev/null || true)"
    local extra=()
    for url in "${urls[@]}"; do
        [[ $url == file://* ]] || continue
        dir=${url#file://}
        dir=${dir%/}
        BUILD_ARGS+=(-v "$(dirname "$dir"):$(dirname "$dir"):ro")
        extra+=("$url")
        if [[ -z $torch_index && -e $dir/torch/index.html ]]; then torch_index=$url; fi
    done
    [[ -n $torch_index ]] || fail "neither PyTorch's CPU index nor a local index has torch: set TORCH_INDEX_URL"
    extra+=(https://pypi.org/simple)
    BUILD_ARGS+=(--build-arg "TORCH_INDEX_URL=$torch_index"
        --build-arg "PIP_EXTRA_INDEX_URL=${extra[*]}")
    TORCH_FROM="$torch_index (PyTorch's CPU index does not answer here)"
}

# Builds DOCKERFILE as IMAGE (log: $WORK/LOG); further args go to podman build. --format docker
# keeps the HEALTHCHECK (OCI images have none); --network host and the CA secret let pip
# through this machine's re-signing proxy.
podman_build() {  # DOCKERFILE IMAGE LOG ARGS...
    local dockerfile=$1 image=$2 log_file=$WORK/$3
    shift 3
    podman build --format docker --network host --secret "id=ca,src=$CA_BUNDLE" "$@" \
        -f "$dockerfile" -t "$image" . >"$log_file" 2>&1 \
        || { tail -40 "$log_file" >&2; fail "building $dockerfile failed (log: $log_file)"; }
}

step_build() {
    local base start
    base=$(base_image)
    torch_source
    log "building $IMAGE from $base; torch from $TORCH_FROM"
    start=$(now)
    podman_build docker/Dockerfile "$IMAGE" build.log --build-arg "BASE_IMAGE=$base" "${BUILD_ARGS[@]}"
    figure "build time (s)" "$(since "$start")"
    figure "base image" "$base"
    image_figures
}

image_figures() {
    local size torch
    size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
    figure "image size" "$((size / 1000000)) MB ($IMAGE)"
    torch=$(podman run --rm --entrypoint python "$IMAGE" -c \
        'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>/dev/null)
    figure "torch in the image" "$torch"
    # What the CUDA libraries weigh when a CUDA wheel stands in for the CPU one.
    local cuda
    cuda=$(podman run --rm --workdir /opt/venv/lib/python3.11/site-packages \
        --entrypoint du "$IMAGE" -csm nvidia triton cuda_bindings cuda_pathfinder 2>/dev/null \
        | tail -1 | cut -f1 || true)
    figure "CUDA libraries in the image (nvidia, triton, cuda-bindings)" "${cuda:-0} MB"
}

# ---- the image, run as Kubernetes runs it ----

# Starts $IMAGE hardened as in k8s/base/deployment.yaml; args after the name go to podman run.
run_hardened() {
    local name=$1
    shift
    CONTAINERS+=("$name")
    podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
    # --read-only-tmpfs=false: podman would add tmpfs on /run and /var/tmp; k8s gives /tmp only.
    podman run -d --name "$name" \
        --user 10001:10001 --read-only --read-only-tmpfs=false --tmpfs /tmp:rw,mode=1777,size=3g \
        --cap-drop ALL --security-opt no-new-privileges \
        --memory 4g --cpus 2 \
        "$@" "$IMAGE" >/dev/null 2>"$WORK/$name.podman.log" \
        || { cat "$WORK/$name.podman.log" >&2; fail "podman run $name failed"; }
}

# Peak memory of a container's cgroup (v2 memory.peak, v1 max_usage_in_bytes), in MB.
peak_memory() {
    local cid path file
    cid=$(podman inspect --format '{{.Id}}' "$1")
    for file in memory.peak memory.max_usage_in_bytes; do
        path=$(find /sys/fs/cgroup -path "*$cid*" -name "$file" 2>/dev/null | head -1)
        if [[ -n $path ]]; then
            echo "$(($(cat "$path") / 1000000)) MB"
            return
        fi
    done
    echo "unknown (no cgroup file for $cid)"
}

analyze_inside() {  # FILE PORT -> the JSON result
    curl -sf --max-time 900 -F "file=@$1" "http://127.0.0.1:$2/v1/analyze"
}

analyze_outside() {  # FILE... -> one JSON result per line, the image's default config
    [[ -n $DFS_CLI ]] || fail "no deepfake-stream outside the container: make a venv or set DFS_CLI"
    "$DFS_CLI" analyze --config configs/onnx.yaml --json --progress never "$@" 2>>"$WORK/outside.log"
}

# The same server outside the container (the venv, the image's config and environment, its
# /tmp paths under $WORK), for a like-for-like timing: both warm, requests interleaved.
start_outside_server() {  # PORT
    [[ -n $DFS_CLI ]] || fail "no deepfake-stream outside the container: make a venv or set DFS_CLI"
    local dir=$WORK/outside-server
    rm -rf "$dir" && mkdir -p "$dir"
    env DFS_SERVER__HOST=127.0.0.1 DFS_SERVER__PORT="$1" \
        DFS_SERVER__UPLOAD_DIR="$dir/uploads" DFS_MODEL__ONNX_CACHE_DIR="$dir/onnx-cache" \
        DFS_DATABASE__URL="sqlite:///$dir/jobs.db" DFS_STORAGE__MEDIA_DIR="$dir/media" \
        "$DFS_CLI" serve --config configs/onnx.yaml >"$dir/server.log" 2>&1 &
    OUTSIDE_PID=$!
    wait_200 "http://127.0.0.1:$1/readyz" "$READY_WITHIN_S" >/dev/null \
        || { tail -c 3000 "$dir/server.log" >&2; fail "the server outside did not become ready"; }
}

# Throttled CFS periods of a container (its CPU limit at work), cgroup v1 or v2.
throttled() {
    local cid path
    cid=$(podman inspect --format '{{.Id}}' "$1")
    path=$(find /sys/fs/cgroup -path "*$cid*" -name cpu.stat 2>/dev/null | head -1)
    if [[ -n $path ]]; then awk '$1 == "nr_throttled" {print $2}' "$path"; else echo "?"; fi
}

clip_timing() {  # CONTAINER PORT
    local name=$1 port=$2 outside_port i throttled_before
    outside_port=$(free_port)
    log "timing $(basename "$CLIP"): one warm-up each, then $REPEAT interleaved runs inside and outside"
    start_outside_server "$outside_port"
    analyze_inside "$CLIP" "$port" >/dev/null
    analyze_inside "$CLIP" "$outside_port" >/dev/null
    : >"$WORK/clip-inside.jsonl"
    : >"$WORK/clip-outside.jsonl"
    throttled_before=$(throttled "$name")
    for ((i = 0; i < REPEAT; i++)); do
        {
            echo "{\"load\": \"$(load)\"}"
            analyze_inside "$CLIP" "$port"
            echo
        } >>"$WORK/clip-inside.jsonl"
        {
            echo "{\"load\": \"$(load)\"}"
            analyze_inside "$CLIP" "$outside_port"
            echo
        } >>"$WORK/clip-outside.jsonl"
    done
    kill "$OUTSIDE_PID" 2>/dev/null || true
    wait "$OUTSIDE_PID" 2>/dev/null || true
    OUTSIDE_PID=
    figure "$(basename "$CLIP"), timings.total_ms inside vs outside" \
        "$("$PY" "$ROOT/scripts/verify_image_helpers.py" timing "$WORK/clip-inside.jsonl" "$WORK/clip-outside.jsonl")"
    figure "CPU-throttled periods inside during the timed runs (--cpus 2)" \
        "$(($(throttled "$name") - throttled_before))"
}

step_run() {
    local name=dfs-verify port start ready status
    port=$(free_port)
    log "running $IMAGE: uid 10001, read-only root, tmpfs /tmp, no capabilities"
    start=$(now)
    run_hardened "$name" -p "127.0.0.1:$port:8000"
    if ! ready=$(wait_200 "http://127.0.0.1:$port/readyz" "$READY_WITHIN_S"); then
        podman logs "$name" 2>&1 | tail -c 4000 >&2
        fail "/readyz did not answer 200 within $READY_WITHIN_S s"
    fi
    figure "time to ready (s, container start to /readyz 200)" "$ready (load $(load))"

    log "parity: $FIXTURE inside (POST /v1/analyze) and outside (deepfake-stream analyze)"
    analyze_inside "$FIXTURE" "$port" >"$WORK/inside.json"
    analyze_outside "$FIXTURE" >"$WORK/outside.json"
    local parity
    parity=$("$PY" "$ROOT/scripts/verify_image_helpers.py" parity "$WORK/inside.json" "$WORK/outside.json") \
        || fail "the container and the CLI disagree: $parity"
    figure "analyze parity ($(basename "$FIXTURE"), container vs CLI)" "$parity"

    if [[ -f $CLIP ]]; then
        clip_timing "$name" "$port"
    else
        log "no $CLIP: skipping the 10 s 1080p timing (set CLIP=...)"
    fi

    log "podman healthcheck run (the image's HEALTHCHECK: GET /healthz)"
    if podman healthcheck run "$name" >"$WORK/healthcheck.out" 2>&1; then
        figure "healthcheck" "healthy ($(podman inspect --format '{{.State.Health.Status}}' "$name" 2>/dev/null || echo '?'))"
    else
        cat "$WORK/healthcheck.out" >&2
        fail "podman healthcheck run failed"
    fi

    figure "peak memory (ready + analyses)" "$(peak_memory "$name")"
    log "SIGTERM: podman stop -t $GRACE_S (SIGKILL after the k8s grace period)"
    start=$(now)
    podman stop -t "$GRACE_S" "$name" >/dev/null 2>>"$WORK/$name.podman.log"
    local stopped
    stopped=$(since "$start")
    status=$(podman inspect --format '{{.State.ExitCode}}' "$name")
    podman logs "$name" >"$WORK/run.log" 2>&1
    grep -q "Application shutdown complete" "$WORK/run.log" \
        || fail "no graceful shutdown in the log ($WORK/run.log), exit $status"
    python3 -c "import sys; sys.exit(float(sys.argv[1]) >= $GRACE_S)" "$stopped" \
        || fail "SIGTERM did not stop the container within $GRACE_S s"
    figure "SIGTERM to stopped" "$stopped s, exit code $status, graceful shutdown logged"
}

# ---- the CPU overlay, through `podman play kube` ----

# What a cluster provides and podman does not: Redis (a pod of our own, on Debian's package),
# the Secret (a podman secret holding its data: key -> base64), the Service, HPA, PDB and KEDA
# objects (dropped: no podman equivalent), and the kubelet's startup and readiness probes
# (podman 4 turns only livenessProbe into a healthcheck; this script polls the other two as
# declared, from the host, on the pod's IP).
step_kube() {
    local base kubectl rendered=$WORK/cpu-overlay.yaml played=$WORK/cpu-overlay.podman.yaml
    kubectl=${KUBECTL:-$(command -v kubectl || echo "$(dirname "$DFS_CLI")/kubectl")}
    log "rendering k8s/overlays/cpu ($kubectl kustomize)"
    "$kubectl" kustomize k8s/overlays/cpu >"$rendered"
    podman image exists "$IMAGE" || fail "no $IMAGE: run the build step first"

    local redis_image=localhost/deepfake-stream-redis:verify
    if ! podman image exists "$redis_image"; then
        base=$(base_image)
        log "building $redis_image from $base (Debian's redis-server; no registry here)"
        printf 'FROM %s\nRUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*\n' "$base" \
            | podman build --network host -t "$redis_image" -f - "$WORK" >"$WORK/redis-build.log" 2>&1 \
            || { tail -20 "$WORK/redis-build.log" >&2; fail "Redis image build failed"; }
    fi
    cat >"$WORK/redis.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: deepfake-stream-redis
spec:
  containers:
    - name: redis
      image: $redis_image
      command: [redis-server, --bind, 0.0.0.0, --protected-mode, "no", --save, ""]
YAML
    PODS+=("$WORK/redis.yaml")
    kube_down
    podman play kube "$WORK/redis.yaml" >"$WORK/redis-play.log" 2>&1 \
        || { cat "$WORK/redis-play.log" >&2; fail "the Redis pod did not start"; }
    local redis_ip
    redis_ip=$(pod_ip deepfake-stream-redis-redis)

    # The Secret: SQLite on the shared media volume stands in for PostgreSQL (the API and the
    # worker pods both mount it), and a throwaway webhook signing secret.
    python3 -c '
import base64, json, os
b64 = lambda s: base64.b64encode(s.encode()).decode()
signing = "whsec_" + base64.b64encode(os.urandom(24)).decode()
print(json.dumps({"database-url": b64("sqlite:////media/jobs.db"), "webhook-secret": b64(signing)}))' \
        | podman secret create deepfake-stream-secrets - >/dev/null

    "$PY" "$ROOT/scripts/verify_image_helpers.py" podman-yaml "$rendered" "$IMAGE" "$redis_ip" >"$played"
    PODS+=("$played")
    log "podman play kube $played"
    podman play kube "$played" >"$WORK/kube-play.log" 2>&1 \
        || { cat "$WORK/kube-play.log" >&2; fail "podman play kube failed"; }
    # podman names a Deployment's pod <deployment>-pod-<n> and its containers <pod>-<container>.
    local api worker api_ip worker_ip
    api=$(container_of deepfake-stream api)
    worker=$(container_of deepfake-stream-worker worker)
    api_ip=$(pod_ip "$api")
    worker_ip=$(pod_ip "$worker")

    # The kubelet's startupProbe, then readinessProbe, as declared in the Deployment.
    local startup_path startup_budget readiness_path ready
    read -r startup_path startup_budget readiness_path \
        <<<"$("$PY" "$ROOT/scripts/verify_image_helpers.py" probes "$played")"
    if ! ready=$(wait_200 "http://$api_ip:8000$startup_path" "$startup_budget"); then
        podman logs "$api" 2>&1 | tail -c 4000 >&2
        fail "startupProbe: $startup_path not 200 within $startup_budget s"
    fi
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://$api_ip:8000$readiness_path") == 200 ]] \
        || fail "readinessProbe $readiness_path failed"
    figure "play kube: API startupProbe + readinessProbe ($startup_path)" "200 after $ready s (load $(load))"

    # livenessProbe: podman made it the container's healthcheck.
    local check
    for check in "$api" "$worker"; do
        if [[ $check == "$worker" ]]; then
            wait_200 "http://$worker_ip:9100/metrics" 300 >/dev/null \
                || { podman logs "$worker" 2>&1 | tail -c 4000 >&2; fail "worker /metrics never answered"; }
        fi
        podman healthcheck run "$check" >"$WORK/healthcheck.out" 2>&1 \
            || fail "livenessProbe (podman healthcheck run $check): $(grep -v systemd "$WORK/healthcheck.out")"
        figure "play kube: livenessProbe of $check" "passes (podman healthcheck run: GET $(podman inspect --format '{{join .Config.Healthcheck.Test " "}}' "$check" | grep -o 'http://[^"]*'))"
    done

    # The ConfigMap mount is what the service runs on: auth.required comes only from it.
    podman exec "$api" cat /etc/deepfake-stream/config.yaml >"$WORK/mounted-config.yaml"
    "$PY" "$ROOT/scripts/verify_image_helpers.py" same-config "$rendered" "$WORK/mounted-config.yaml" \
        || fail "the mounted config is not the ConfigMap's"
    [[ $(curl -s -o /dev/null -w '%{http_code}' -F "file=@$FIXTURE" "http://$api_ip:8000/v1/analyze") == 401 ]] \
        || fail "auth.required (from the ConfigMap) is not in force"
    figure "play kube: ConfigMap" "mounted at /etc/deepfake-stream/config.yaml, identical, in force (401 without a key)"

    # The securityContext, as the processes see it.
    local context
    for check in "$api" "$worker"; do
        context=$(podman exec "$check" python "-c" "$("$PY" "$ROOT/scripts/verify_image_helpers.py" context-probe)")
        [[ $context == "uid=10001 gid=10001 CapEff=0000000000000000 NoNewPrivs=1 Seccomp=2 root read-only"* ]] \
            || fail "securityContext of $check: $context"
        figure "play kube: securityContext of $check" "$context"
    done

    # End to end through the Deployments: API front -> Redis -> worker pod -> result.
    local key
    key=$(podman exec "$api" deepfake-stream keys create --config /etc/deepfake-stream/config.yaml \
        --name verify-image 2>/dev/null)
    key=${key%%$'\n'*}  # the first line is the key
    curl -sf --max-time 600 -H "X-API-Key: $key" -F "file=@$FIXTURE" \
        "http://$api_ip:8000/v1/analyze" >"$WORK/kube-inside.json" \
        || fail "POST /v1/analyze through the worker pod failed"
    [[ -s $WORK/outside.json ]] || analyze_outside "$FIXTURE" >"$WORK/outside.json"
    local parity
    parity=$("$PY" "$ROOT/scripts/verify_image_helpers.py" parity "$WORK/kube-inside.json" "$WORK/outside.json") \
        || fail "the pods and the CLI disagree: $parity"
    figure "play kube: $(basename "$FIXTURE") through the API and worker pods vs CLI" "$parity"
    figure "play kube: peak memory API / worker" "$(peak_memory "$api") / $(peak_memory "$worker")"
}

kube_down() {  # what step_kube made: its pods (the played Deployments' and Redis'), volume, secret
    local pod
    for pod in $(podman pod ps --format '{{.Name}}' | grep -E '^deepfake-stream(-worker)?-pod(-[0-9]+)?$|^deepfake-stream-redis$' || true); do
        podman pod rm -f -t 0 "$pod" >/dev/null 2>&1 || true
    done
    local volume  # the media claim's volume, and the ConfigMap's
    for volume in $(podman volume ls --format '{{.Name}}' | grep -E '^deepfake-stream-(media|config-.+)$' || true); do
        podman volume rm -f "$volume" >/dev/null 2>&1 || true
    done
    podman secret rm deepfake-stream-secrets >/dev/null 2>&1 || true
}

container_of() {  # DEPLOYMENT CONTAINER -> the name podman gave that container
    podman ps --format '{{.Names}}' | grep -E "^$1-pod(-[0-9]+)?-$2\$" | head -1 \
        || fail "no container $2 of $1 running"
}

pod_ip() {  # CONTAINER -> the IP address of its pod's network namespace (the infra container)
    local infra
    infra=$(podman pod inspect --format '{{.InfraContainerID}}' "$(podman inspect --format '{{.Pod}}' "$1")")
    podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$infra"
}

# ---- the GPU image, as far as this machine allows ----

# nvidia/cuda cannot be pulled here and cannot be bootstrapped (NVIDIA's image, Ubuntu's
# packages), and there is no GPU. What can be built: docker/Dockerfile.gpu on the Debian base
# standing in for CUDA_IMAGE (PyPI's torch brings its own CUDA libraries; the nvidia/cuda base
# adds the NVIDIA_* variables the container toolkit reads). What can be run: the GPU overlay's
# worker command, which must stop at once with exit code 3 (device_unavailable) without a GPU.
step_gpu() {
    local base start image=${GPU_IMAGE:-localhost/deepfake-stream-gpu:verify}
    base=${CUDA_IMAGE:-}
    if [[ -z $base ]]; then
        if timeout 60 podman pull -q docker.io/nvidia/cuda:13.0.1-runtime-ubuntu24.04 >/dev/null 2>&1; then
            base=docker.io/nvidia/cuda:13.0.1-runtime-ubuntu24.04
        else
            base=$(base_image)
            log "nvidia/cuda cannot be pulled: building docker/Dockerfile.gpu on $base instead"
        fi
    fi
    torch_source
    local args=()
    if [[ $TORCH_FROM == *"(the default)" ]]; then
        args=(--build-arg TORCH_INDEX_URL=https://pypi.org/simple)  # the GPU default
    else
        args=("${BUILD_ARGS[@]}")
    fi
    start=$(now)
    podman_build docker/Dockerfile.gpu "$image" build-gpu.log --build-arg "CUDA_IMAGE=$base" "${args[@]}"
    figure "GPU image build time (s), on $base" "$(since "$start")"
    figure "GPU image size" "$(($(podman image inspect --format '{{.Size}}' "$image") / 1000000)) MB ($image)"
    # The GPU overlay's worker, with the overlay's ConfigMap as its config.
    local kubectl status=0
    kubectl=${KUBECTL:-$(command -v kubectl || echo "$(dirname "$DFS_CLI")/kubectl")}
    "$kubectl" kustomize k8s/overlays/gpu >"$WORK/gpu-overlay.yaml"
    "$PY" "$ROOT/scripts/verify_image_helpers.py" configmap "$WORK/gpu-overlay.yaml" >"$WORK/gpu-config.yaml"
    start=$(now)
    podman run --rm --user 10001:10001 --read-only --read-only-tmpfs=false --tmpfs /tmp:rw,mode=1777 \
        --cap-drop ALL --security-opt no-new-privileges \
        -v "$WORK/gpu-config.yaml:/etc/deepfake-stream/config.yaml:ro" "$image" \
        worker --config /etc/deepfake-stream/config.yaml >"$WORK/gpu-worker.log" 2>&1 || status=$?
    if [[ $status != 3 ]] || ! grep -q device_unavailable "$WORK/gpu-worker.log"; then
        tail -c 2000 "$WORK/gpu-worker.log" >&2
        fail "the GPU worker did not stop with exit 3 (got $status)"
    fi
    figure "GPU image without a GPU" "the GPU overlay's worker exits 3 (device_unavailable) after $(since "$start") s"
}

step_compose() {
    # docker/compose.yaml needs postgres:17-alpine and redis:7-alpine: no registry answers here.
    fail "compose: its postgres and redis images cannot be pulled here; the kube step plays the same topology"
}

steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(build run kube)
: >"$WORK/figures.txt"
for step in "${steps[@]}"; do
    case $step in
        build | run | kube | compose | gpu) "step_$step" ;;
        *) fail "unknown step $step (build run kube compose gpu)" ;;
    esac
done
log "figures (also in $WORK/figures.txt)"
cat "$WORK/figures.txt"
