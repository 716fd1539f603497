"""The delivery schedule that job and stream webhooks share: retries are scheduled, not
slept on a thread; each destination has its limit and its breaker."""

from __future__ import annotations

import threading
import time

from deepfake_stream.config import WebhookSettings
from deepfake_stream.delivery import (
    BREAKER_FAILURES,
    PER_DESTINATION_IN_FLIGHT,
    Delivery,
    DeliveryScheduler,
)
from deepfake_stream.network import DeliveryError

SETTINGS = WebhookSettings(initial_backoff_s=0.05, max_backoff_s=0.1, max_attempts=3)


def test_a_dead_destination_holds_neither_the_threads_nor_anyone_elses_delivery() -> None:
    patient = SETTINGS.model_copy(update={"max_attempts": 10})
    scheduler = DeliveryScheduler(patient, threads=2, name="test-delivery")
    in_flight = 0
    most_in_flight = 0
    made = 0
    lock = threading.Lock()
    ended: dict[str, tuple[bool, int]] = {}

    def hanging(_number: int) -> None:
        nonlocal in_flight, most_in_flight, made
        with lock:
            made += 1
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
        time.sleep(0.3)  # an attempt that times out
        with lock:
            in_flight -= 1
        raise DeliveryError("timed out")

    def record(name: str, delivery: Delivery) -> None:
        def on_end(delivered: bool, _error: Exception | None) -> None:
            ended[name] = (delivered, delivery.attempts)

        delivery.on_end = on_end

    try:
        for index in range(12):
            dead = Delivery("http://dead.example:81/hook", hanging, lambda *_: None)
            record(f"dead{index}", dead)
            scheduler.submit(dead)
        time.sleep(0.1)
        began = time.monotonic()
        done = threading.Event()
        good = Delivery("http://good.example/hook", lambda _n: None, lambda *_: done.set())
        scheduler.submit(good)
        assert done.wait(2) and time.monotonic() - began < 0.5
        assert good.attempts == 1
        time.sleep(3)
        # The dead destination never had more than its share of attempts at once, and its
        # breaker opened after BREAKER_FAILURES failures in a row: no delivery has used up its
        # attempts on it yet.
        # Without the breaker, 36 attempts of 0.3 s two at a time would have run by now.
        assert most_in_flight <= PER_DESTINATION_IN_FLIGHT
        assert BREAKER_FAILURES <= made <= BREAKER_FAILURES + PER_DESTINATION_IN_FLIGHT
        assert ended == {}
    finally:
        scheduler.close()


def test_a_failing_delivery_is_retried_until_its_attempts_run_out() -> None:
    scheduler = DeliveryScheduler(SETTINGS, threads=1, name="test-delivery")
    attempts: list[float] = []
    done = threading.Event()
    outcome: list[bool] = []

    def failing(_number: int) -> None:
        attempts.append(time.monotonic())
        raise DeliveryError("503")

    def on_end(delivered: bool, _error: Exception | None) -> None:
        outcome.append(delivered)
        done.set()

    try:
        scheduler.submit(Delivery("http://flaky.example/hook", failing, on_end))
        assert done.wait(5)
        assert outcome == [False] and len(attempts) == SETTINGS.max_attempts
        gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
        assert all(gap >= SETTINGS.initial_backoff_s * 0.9 for gap in gaps)  # backed off
    finally:
        scheduler.close()
