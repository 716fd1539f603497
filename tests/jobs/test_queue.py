"""The job queue on Dramatiq's in-memory broker (the embedded default) and on a real Redis."""

from __future__ import annotations

import threading

from deepfake_stream.config import QueueSettings
from deepfake_stream.jobs.queue import JobQueue


def _run_through(queue: JobQueue, job_ids: list[str]) -> list[str]:
    received: list[str] = []
    done = threading.Event()

    def handle(job_id: str) -> None:
        received.append(job_id)
        if len(received) == len(job_ids):
            done.set()

    for job_id in job_ids:
        queue.enqueue(job_id)
    assert queue.depth() == len(job_ids)
    queue.start(handle, threads=2)
    assert done.wait(30), received
    return received


def test_the_embedded_queue_runs_each_job_id_once_in_this_process() -> None:
    queue = JobQueue(QueueSettings(broker="embedded"))
    try:
        queue.ping()  # always reachable
        ids = [f"job{n}" for n in range(5)]
        assert sorted(_run_through(queue, ids)) == ids
        assert queue.depth() == 0
    finally:
        queue.close()


def test_a_sender_only_queue_never_runs_jobs() -> None:
    queue = JobQueue(QueueSettings(broker="embedded"))
    try:
        queue.enqueue("job1")
        assert queue.depth() == 1  # waits for a worker process
    finally:
        queue.close()


def test_the_redis_queue_hands_job_ids_to_a_worker(redis_namespace: str) -> None:
    settings = QueueSettings(broker="redis", namespace=redis_namespace)
    sender, worker = JobQueue(settings), JobQueue(settings)
    try:
        sender.ping()
        sender.enqueue("job-a")
        sender.enqueue("job-b")
        assert sender.depth() == 2  # as the API's metrics see it
        received: list[str] = []
        done = threading.Event()

        def handle(job_id: str) -> None:
            received.append(job_id)
            if len(received) == 2:
                done.set()

        worker.start(handle, threads=1)
        assert done.wait(30) and sorted(received) == ["job-a", "job-b"]
        assert sender.depth() == 0
    finally:
        worker.close()
        sender.close()
