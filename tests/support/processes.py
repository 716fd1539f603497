"""For tests that start processes: a free loopback port, and an environment without DFS_*
overrides from outside the test."""

from __future__ import annotations

import os
import socket


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def env_without_dfs(**extra: str) -> dict[str, str]:
    """This environment without DFS_* settings overrides, plus `extra`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DFS_")}
    env.update(extra)
    return env
