"""The security smoke run (issue #22): the attacks of the hardening issue against a real
`deepfake-stream serve` process, with the figures the issue's targets are stated in.

    .venv/bin/python scripts/security_smoke.py [--slow-hold-s 40]

1. memory: a 1.5 GiB JSON body without a key (and one with a bogus key) is answered before it
   is read: the time to the answer and the server's RSS growth;
2. slow clients: 17 uploads with a valid key that send a byte every 15 s, while another key's
   upload is timed;
3. SSRF: URL forms that name private addresses, each refused (422) as a job URL;
4. load: 32 uploads of a 1080p clip at once, each answered 200 or 503 with Retry-After;
5. DNS rebinding: a resolver patched to answer a public address and then 127.0.0.1, against
   the pinned client, with a real receiver on 127.0.0.1 that must see nothing.
Exit status 1 if any target is missed.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from deepfake_stream.api.auth import Scope, create_key  # noqa: E402
from deepfake_stream.jobs.store import JobStore  # noqa: E402
from deepfake_stream.network import checked_client  # noqa: E402
from support.live import server_process  # noqa: E402
from support.receiver import ReceiverServer  # noqa: E402

GIB = 1 << 30
# A 1080p clip (../shared/media when it is there, else the committed 2 s fixture).
LOAD_VIDEO = next(
    p
    for p in (
        REPO.parent / "shared" / "media" / "video" / "fake" / "dfdc_abofeumbvv.mp4",
        REPO / "tests" / "fixtures" / "fake_dfdc_2s.mp4",
    )
    if p.is_file()
)
BOUNDARY = "dfs-smoke"
SSRF_URLS = [
    "http://127.0.0.1/a.mp4",
    "http://localhost:8080/a.mp4",
    "http://10.0.0.1/a.mp4",
    "http://192.168.1.1/a.mp4",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/a.mp4",
    "http://[::ffff:127.0.0.1]/a.mp4",
    "http://[64:ff9b::7f00:1]/a.mp4",
    "http://[2002:7f00:1::]/a.mp4",
    "http://[::7f00:1]/a.mp4",
    "http://0.0.0.0/a.mp4",
    "http://2130706433/a.mp4",
    "http://0x7f000001/a.mp4",
    "http://017700000001/a.mp4",
    "http://127.1/a.mp4",
    "file:///etc/passwd",
    "ftp://127.0.0.1/a.mp4",
    "http://user:pass@8.8.8.8/a.mp4",
]


def _connect(base_url: str) -> socket.socket:
    parts = urlsplit(base_url)
    return socket.create_connection((parts.hostname or "", parts.port or 80), timeout=30)


def _status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return 0
        data += chunk
    return int(data.split(b" ", 2)[1])


def _head(path: str, content_type: str, length: int, key: str | None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: smoke", f"Content-Type: {content_type}"]
    lines.append(f"Content-Length: {length}")
    if key is not None:
        lines.append(f"X-API-Key: {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def huge_body(base_url: str, pid: int, key: str | None, path: str) -> dict[str, Any]:
    """Stream a 1.5 GiB JSON body in 1 MiB chunks until the server answers."""
    process = psutil.Process(pid)
    before = process.memory_info().rss
    sock = _connect(base_url)
    began = time.monotonic()
    sock.sendall(_head(path, "application/json", int(1.5 * GIB), key))
    sent = 0
    chunk = b"A" * (1 << 20)
    sock.setblocking(False)
    status = 0
    while sent < 1.5 * GIB:
        try:
            data = sock.recv(4096)
            if data:
                status = int(data.split(b" ", 2)[1])
                break
        except BlockingIOError:
            pass
        try:
            sent += sock.send(chunk)
        except (BlockingIOError, BrokenPipeError, ConnectionResetError):
            time.sleep(0.01)
    answered = time.monotonic() - began
    sock.close()
    time.sleep(0.5)
    growth_mb = (process.memory_info().rss - before) / 2**20
    return {
        "status": status,
        "answered_s": answered,
        "sent_mb": sent / 2**20,
        "growth_mb": growth_mb,
    }


def slow_clients(
    base_url: str, key: str, other: str, photo: bytes, hold_s: float
) -> dict[str, Any]:
    sockets = []
    for _ in range(17):
        sock = _connect(base_url)
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
        sock.sendall(_head("/v1/analyze", content_type, 100_000_000, key))
        sock.sendall(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            'filename="slow.jpg"\r\n\r\n\xff'.encode("latin-1")
        )
        sockets.append(sock)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(15):
            for sock in sockets:
                try:
                    sock.sendall(b"\xd8")
                except OSError:
                    pass

    threading.Thread(target=trickle, daemon=True).start()
    time.sleep(2)
    began = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=120) as client:
        response = client.post(
            "/v1/analyze", files={"file": ("photo.jpg", photo)}, headers={"X-API-Key": other}
        )
    other_s = time.monotonic() - began
    time.sleep(max(0.0, hold_s - other_s))
    stop.set()
    statuses = []
    for sock in sockets:
        sock.settimeout(5)
        try:
            statuses.append(_status(sock))
        except OSError:
            statuses.append(0)
        sock.close()
    return {"other_status": response.status_code, "other_s": other_s, "slow": sorted(statuses)}


def load_shedding(base_url: str, keys: list[str], video: bytes) -> dict[str, Any]:
    """32 uploads at once, 4 per key: each answered 200, or 503 with Retry-After."""
    answers: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def one(key: str) -> None:
        with httpx.Client(base_url=base_url, timeout=600) as client:
            response = client.post(
                "/v1/analyze", files={"file": ("clip.mp4", video)}, headers={"X-API-Key": key}
            )
        with lock:
            answers.append((response.status_code, response.headers.get("retry-after")))

    threads = [threading.Thread(target=one, args=(key,)) for key in keys for _ in range(4)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = [status for status, _ in answers]
    return {
        "uploads": len(answers),
        "ok": statuses.count(200),
        "shed": statuses.count(503),
        "shed_with_retry_after": sum(1 for s, r in answers if s == 503 and r),
        "other": sorted(s for s in statuses if s not in (200, 503)),
        "seconds": time.monotonic() - began,
    }


def ssrf(base_url: str, key: str) -> dict[str, Any]:
    refused = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for url in SSRF_URLS:
            answer = client.post("/v1/jobs", json={"url": url}, headers={"X-API-Key": key})
            refused.append((url, answer.status_code))
    return {"forms": len(refused), "refused": sum(s == 422 for _, s in refused), "answers": refused}


def rebinding() -> dict[str, Any]:
    receiver = ReceiverServer()
    port = urlsplit(receiver.receiver.url).port
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding_resolver(host: Any, port_: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            ipaddress.ip_address(host)
            return real(host, port_, *args, **kwargs)
        except ValueError:
            address = "8.8.8.8" if not answers else "127.0.0.1"
            answers.append(address)
            return real(address, port_, *args, **kwargs)

    socket.getaddrinfo = rebinding_resolver  # type: ignore[assignment]
    try:
        with checked_client(5.0, allow_private=False) as client:
            try:
                client.post(f"http://rebind.example:{port}/hook", content=b"{}")
                outcome = "connected"
            except httpx.ConnectError as exc:
                outcome = f"refused: {exc}"
    finally:
        socket.getaddrinfo = real  # type: ignore[assignment]
        receiver.close()
    return {"outcome": outcome, "deliveries": len(receiver.receiver.deliveries)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    # Past the guard's grace (15 s) and read timeout (30 s): every slow upload is answered.
    parser.add_argument("--slow-hold-s", type=float, default=40.0)
    args = parser.parse_args()
    photo = (REPO / "tests" / "fixtures" / "photo.jpg").read_bytes()
    results: list[tuple[str, str, bool]] = []

    def check(name: str, figure: str, ok: bool) -> None:
        results.append((name, figure, ok))
        print(f"{'ok  ' if ok else 'MISS'} {name}: {figure}", flush=True)

    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        store = JobStore(f"sqlite:///{folder}/jobs.db")
        _, key = create_key(store, "smoke", frozenset(Scope), rate_per_minute=10_000)
        _, other = create_key(store, "other", frozenset(Scope), rate_per_minute=10_000)
        loaders = [create_key(store, f"load{i}", frozenset(Scope), 10_000)[1] for i in range(8)]
        store.close()
        config = REPO / "configs" / "default.yaml"
        with server_process(folder, config, DFS_AUTH__REQUIRED="true") as (process, client):
            base_url = str(client.base_url)
            run: Callable[..., dict[str, Any]]
            for label, run_key, path, expected in (
                ("no key", None, "/v1/streams", 401),
                ("bogus key", "dfs_000000000000_bogus", "/v1/streams", 401),
                ("valid key", key, "/v1/jobs", 413),
            ):
                run = huge_body
                figures = run(base_url, process.pid, run_key, path)
                check(
                    f"1.5 GiB JSON body to {path}, {label}",
                    f"HTTP {figures['status']} after {figures['answered_s']:.2f} s, "
                    f"{figures['sent_mb']:.0f} MB sent, RSS {figures['growth_mb']:+.1f} MB",
                    figures["status"] == expected
                    and figures["answered_s"] < 1.0
                    and figures["growth_mb"] < 50,
                )
            slow = slow_clients(base_url, key, other, photo, args.slow_hold_s)
            check(
                "17 slow uploads held open",
                f"another key's upload HTTP {slow['other_status']} in {slow['other_s']:.1f} s; "
                f"the slow ones got {slow['slow']}",
                slow["other_status"] == 200 and slow["other_s"] < 30,
            )
            shed = load_shedding(base_url, loaders, LOAD_VIDEO.read_bytes())
            check(
                "32 concurrent 1080p uploads (8 keys)",
                f"{shed['ok']} answered 200, {shed['shed']} 503 "
                f"({shed['shed_with_retry_after']} with Retry-After), others {shed['other']}, "
                f"in {shed['seconds']:.0f} s",
                shed["ok"] + shed["shed"] == shed["uploads"] == 32
                and shed["shed_with_retry_after"] == shed["shed"],
            )
            forms = ssrf(base_url, key)
            check(
                "SSRF URL forms",
                f"{forms['refused']} of {forms['forms']} refused (422)",
                forms["refused"] == forms["forms"],
            )
    rebound = rebinding()
    check(
        "DNS rebinding (public, then 127.0.0.1)",
        f"{rebound['outcome'][:80]}; {rebound['deliveries']} deliveries reached 127.0.0.1",
        rebound["deliveries"] == 0,
    )
    return 0 if all(ok for _, _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
