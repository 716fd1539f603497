"""Classification overlapped with detection: each detected batch's faces are scored on a
worker thread while the next batch is detected."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed, wait

import numpy as np

from .branches import CropScores, concat_scores, take_scores
from .faces import Face
from .fusion import Branch


class BackgroundScoring:
    """Classifies each detection batch's faces on a worker thread while the next batch is
    detected, then gives back the scores of the faces that survive tracking.

    Detection waits on decoding and classification waited on detection; overlapped, each
    fills the other's idle moments (a 10 s 1080p clip with two branches: see README)."""

    def __init__(
        self, executor: ThreadPoolExecutor, score: Callable[[np.ndarray], CropScores]
    ) -> None:
        self._executor = executor
        self._score = score
        self._position: dict[int, int] = {}  # id(face) -> its index among all scored crops
        self._faces: list[Face] = []  # keeps every scored face alive while its id() is a key
        self._pending: list[Future[tuple[CropScores, float]]] = []  # (scores, seconds taken)
        self._sizes: list[int] = []  # crops in each pending batch

    def submit(self, faces_per_frame: list[list[Face]]) -> None:
        faces = [face for frame_faces in faces_per_frame for face in frame_faces]
        if not faces:
            return
        for face in faces:
            self._position[id(face)] = len(self._faces)
            self._faces.append(face)
        crops = np.stack([face.crop for face in faces])
        self._sizes.append(len(faces))
        self._pending.append(self._executor.submit(self._timed, crops))

    def _timed(self, crops: np.ndarray) -> tuple[CropScores, float]:
        began = time.perf_counter()
        return self._score(crops), time.perf_counter() - began

    def wait(self) -> None:
        """Let the submitted batches finish (when an analysis is abandoned, too)."""
        wait(self._pending)

    def counts(self) -> tuple[int, int]:
        """(crops scored, crops submitted) so far."""
        scored = sum(size for size, f in zip(self._sizes, self._pending, strict=True) if f.done())
        return scored, len(self._faces)

    def finishing(self) -> Iterator[tuple[int, int]]:
        """(crops scored, crops submitted) as each batch still running finishes."""
        for _ in as_completed(self._pending):
            yield self.counts()

    @property
    def busy_seconds(self) -> float:
        """Seconds the classifier spent on the finished batches."""
        return sum(future.result()[1] for future in self._pending if future.done())

    def scores_of(self, faces: list[Face], branches: list[Branch]) -> CropScores:
        """The scores of these faces (each submitted earlier), in this order."""
        everything = concat_scores([future.result()[0] for future in self._pending], branches)
        return take_scores(everything, [self._position[id(face)] for face in faces])
