"""One typed Settings object, built from a YAML file plus environment overrides.

Priority, highest first: environment variables (``DFS_<SECTION>__<FIELD>``, e.g.
``DFS_MODEL__DEVICE=cuda``), then the YAML file, then the defaults below. The YAML file is
chosen with ``--config`` or ``DFS_CONFIG``; without either, the project home's
``configs/default.yaml`` is used when it exists.

Relative paths (weights, caches, media, a SQLite file), wherever they are set, are relative to
the project home, never to the working directory, so that every command works from anywhere
and configs stay free of absolute paths. The home is ``DFS_HOME`` when set (the image sets
``/app``), else the checkout this package runs from (the folder holding ``configs/`` and
``weights/``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigError

CONFIG_ENV_VAR = "DFS_CONFIG"
HOME_ENV_VAR = "DFS_HOME"
# src/deepfake_stream/config.py -> the checkout's root, for a source or editable install.
CHECKOUT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_NAME = Path("configs/default.yaml")
SQLITE_PREFIX = "sqlite:///"
DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?)$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# The trained release in weights/ (relative to the project home, like every path here).
SHIPPED_WEIGHTS = Path("weights/srm-lite0-wild.json")
SHIPPED_VOICE_WEIGHTS = Path("weights/voice-loglinear-cnn.json")


class ModelSettings(_Section):
    # Registry name of the detector architecture (see detection.registry.list_detectors()).
    architecture: str = "srm_efficientnet_lite0"
    # Manifest of trained weights (weights/*.json; the shipped release by default). None:
    # ImageNet backbone with an untrained head, reported as untrained in every result.
    weights: Path | None = SHIPPED_WEIGHTS
    # Inference engine: eager PyTorch, or ONNX Runtime (exported from the same model).
    engine: Literal["torch", "onnx"] = "onnx"
    # "cpu", "cuda", "cuda:N", or a list: one model replica per listed device.
    device: str | list[str] = "cpu"
    # Intra-op threads per replica; 0 leaves the library default.
    threads: int = Field(default=2, ge=0)
    # Face crops per forward pass.
    batch_size: int = Field(default=4, ge=1, le=1024)
    # fp16/bf16 only on CUDA (torch), fp16 only with the ONNX CUDA provider.
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    # Where exported ONNX graphs are cached, keyed by weights hash.
    onnx_cache_dir: Path = Path(".cache/onnx")

    @field_validator("device")
    @classmethod
    def _check_device_names(cls, value: str | list[str]) -> str | list[str]:
        names = [value] if isinstance(value, str) else value
        if not names:
            raise ValueError("device list is empty")
        for name in names:
            if not DEVICE_PATTERN.match(name):
                raise ValueError(f"unknown device {name!r}: use cpu, cuda or cuda:N")
        return value

    @property
    def devices(self) -> list[str]:
        return [self.device] if isinstance(self.device, str) else list(self.device)


class FusionSettings(_Section):
    # Fusion manifest (weights/fusion-*.json): the other branches' weights, the fusion weights,
    # the thresholds of the fused probability and the novelty reference. None: the face branch
    # alone, with the thresholds of its own manifest (the default until a fusion beats it).
    manifest: Path | None = None
    # The branches that run: any of the manifest's (the weights renormalise over them).
    branches: list[Literal["face", "frequency"]] = ["face"]

    @field_validator("branches")
    @classmethod
    def _check_branches(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("fusion.branches is empty: name at least one branch")
        if len(set(value)) != len(value):
            raise ValueError(f"fusion.branches repeats a branch: {value}")
        return value


class VoiceSettings(_Section):
    # The voice branch: speech in audio files and in videos' sound tracks (audio/voice.py).
    enabled: bool = True
    # Manifest of the voice model's weights (weights/voice-*.json).
    weights: Path = SHIPPED_VOICE_WEIGHTS


class SamplingSettings(_Section):
    # The video's duration is cut into this many equal segments...
    segments: int = Field(default=8, ge=1, le=128)
    # ...and this many frames are sampled, evenly spaced, from each.
    frames_per_segment: int = Field(default=4, ge=1, le=64)
    # Jump with a seek instead of decoding forward when the next sample is this far ahead.
    seek_threshold_s: float = Field(default=4.0, gt=0)


@dataclass(frozen=True)
class AnalysisOptions:
    """One request's overrides of the sampling settings (API query or form, CLI flags, a job's
    stored options); None keeps the configured value. `thumbnails` asks for the analysed faces'
    thumbnails in the result (result.thumbnails)."""

    segments: int | None = None
    frames_per_segment: int | None = None
    thumbnails: bool = False

    @classmethod
    def from_stored(cls, options: Mapping[str, Any]) -> AnalysisOptions:
        """From a job's stored options (which may hold other keys, such as its URL)."""
        return cls(
            options.get("segments"),
            options.get("frames_per_segment"),
            options.get("thumbnails") is True,
        )

    def overrides(self) -> dict[str, int | bool]:
        """The options given, as a job stores them (thumbnails only when asked for)."""
        stored: dict[str, int | bool] = dict(self._sampling_overrides())
        if self.thumbnails:
            stored["thumbnails"] = True
        return stored

    def sampling(self, configured: SamplingSettings) -> SamplingSettings:
        return configured.model_copy(update=self._sampling_overrides())

    def _sampling_overrides(self) -> dict[str, int]:
        sampling = {"segments": self.segments, "frames_per_segment": self.frames_per_segment}
        return {key: value for key, value in sampling.items() if value is not None}


# Crop settings of earlier releases: the crop is the weights manifest's now (detection/crop.py).
RETIRED_CROP_SETTINGS = {"margin", "crop_offset_y", "max_native_side", "crop_jpeg_quality"}


class FaceSettings(_Section):
    # Frames are downscaled so that their short side is at most this before MTCNN (videos).
    detect_short_side: int = Field(default=360, ge=64)
    # Same, for still images, where one frame can afford more pixels.
    detect_short_side_image: int = Field(default=720, ge=64)
    # MTCNN's smallest face, in pixels of the downscaled detection frame.
    min_face_size: int = Field(default=20, ge=8)
    # MTCNN's three stage thresholds (P-Net, R-Net, O-Net).
    thresholds: tuple[float, float, float] = (0.7, 0.7, 0.7)
    # A track (person) needs at least one detection this confident...
    min_confidence: float = Field(default=0.9, ge=0.0, le=1.0)
    # ...and may then keep weaker ones down to this (a face half covered for a moment).
    min_confidence_in_track: float = Field(default=0.6, ge=0.0, le=1.0)
    # At most this many faces per frame, the largest first.
    max_faces_per_frame: int = Field(default=8, ge=1)
    # Frames per MTCNN call: 4 is as fast as 8 on CPU with half the transient memory.
    detect_batch_size: int = Field(default=4, ge=1)
    # Brighten dark frames (for the detector only) so that underexposed faces are found.
    brighten_dark_frames: bool = True
    # Whole frames are searched at least every this many frames; in between, each face is only
    # looked for near its last box (detection/search.py). 1: every frame searched whole.
    keyframe_interval: int = Field(default=4, ge=1)
    # Frames further apart than this are searched whole: a face may have gone anywhere.
    max_track_gap_s: float = Field(default=2.0, ge=0.0)

    @model_validator(mode="before")
    @classmethod
    def _crop_is_the_weights(cls, data: Any) -> Any:
        """The crop is the weights' (their manifest's `crop`), not a setting: a model cut
        differently from its training crops is silently worse."""
        if isinstance(data, dict):
            retired = sorted(set(data) & RETIRED_CROP_SETTINGS)
            if retired:
                raise ValueError(
                    f"faces.{', faces.'.join(retired)}: the face crop now comes from the weights "
                    "manifest (its `crop`, see GET /v1/model); remove these settings"
                )
        return data


class VerdictSettings(_Section):
    # Below this probability: "real". None: use the threshold of the weights manifest.
    real_below: float | None = Field(default=None, ge=0.0, le=1.0)
    # At or above this probability: "fake". None: use the weights manifest.
    fake_at_or_above: float | None = Field(default=None, ge=0.0, le=1.0)
    # How segment probabilities become the video probability.
    strategy: Literal["mean", "confidence_weighted"] = "mean"
    # A track seen in fewer than this share of sampled frames is reported but does not vote
    # (spurious detections), unless no track reaches it.
    min_track_share: float = Field(default=0.2, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _check_order(self) -> VerdictSettings:
        if (
            self.real_below is not None
            and self.fake_at_or_above is not None
            and self.real_below > self.fake_at_or_above
        ):
            raise ValueError("verdict.real_below must not exceed verdict.fake_at_or_above")
        return self


class LimitSettings(_Section):
    # Largest accepted upload or file.
    max_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    # Longest accepted video.
    max_duration_s: float = Field(default=15 * 60, gt=0)
    # Largest image, width * height (decompression bombs).
    max_image_pixels: int = Field(default=64_000_000, ge=1)
    # Largest video frame, width * height (4K fits).
    max_video_pixels: int = Field(default=4096 * 2304, ge=1)
    # Wall-clock limit of one analysis, upload excluded: a file that takes longer (hostile or
    # pathological; a 1080p video takes about 2 s) fails with analysis_timeout.
    max_analysis_s: float = Field(default=120.0, gt=0)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # Analyses that run at once; each already uses model.threads cores.
    max_concurrent: int = Field(default=1, ge=1)
    # Requests that may wait for a slot before new ones get 503 busy.
    max_queued: int = Field(default=16, ge=0)
    # Uploads one API key (or all anonymous callers together) may send at once; more get 503.
    uploads_per_key: int = Field(default=4, ge=1)
    # Where uploads are streamed; None: the system temp dir.
    upload_dir: Path | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # With the Redis broker, POST /v1/analyze runs on a worker; it waits this long for one.
    sync_wait_s: float = Field(default=900.0, gt=0.0)
    # One JSON object per log line (with request_id and job_id), or plain text.
    log_format: Literal["json", "text"] = "json"
    # A request body that is not a multipart upload (JSON) is refused with 413 past this; an
    # upload past limits.max_bytes (api/guard.py).
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # A body that pauses longer than this, or that after body_rate_grace_s arrives slower than
    # min_body_bytes_per_s on average, is cut off with 408: slow clients cannot hold the
    # service's places.
    body_read_timeout_s: float = Field(default=30.0, gt=0.0)
    body_rate_grace_s: float = Field(default=15.0, ge=0.0)
    min_body_bytes_per_s: int = Field(default=4096, ge=0)


class DatabaseSettings(_Section):
    # SQLAlchemy URL of the job store: SQLite in the data directory by default (nothing to run),
    # or PostgreSQL, e.g. postgresql+psycopg://user@host:5432/deepfake_stream.
    url: str = "sqlite:///data/deepfake-stream.db"


class QueueSettings(_Section):
    # "embedded": jobs run on worker threads inside the API process (nothing else to run).
    # "redis": jobs go to a Dramatiq queue on Redis; `deepfake-stream worker` processes run them.
    broker: Literal["embedded", "redis"] = "embedded"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Redis key prefix: several deployments may share one Redis.
    namespace: str = "deepfake-stream"
    # Jobs one process runs at once (threads; each analysis already uses model.threads cores).
    worker_threads: int = Field(default=1, ge=1, le=64)
    # A running job renews its lease as it progresses; one whose lease ran out (its worker died)
    # is run again by another worker.
    lease_s: float = Field(default=60.0, ge=1.0)
    # How often each worker looks for jobs whose lease ran out, and for queued jobs the broker
    # never took (unreachable when they were submitted: sent again once lease_s has passed)
    # or has not handed out for resend_after_s (a broker that restarted without its data).
    recovery_interval_s: float = Field(default=15.0, gt=0.0)
    resend_after_s: float = Field(default=600.0, gt=0.0)
    # `deepfake-stream worker` serves Prometheus metrics on this port (None: not at all).
    metrics_port: int | None = Field(default=9100, ge=1, le=65535)


class StorageSettings(_Section):
    # Uploaded media waits here until its job runs: a directory every worker can read (a shared
    # volume when the workers run apart from the API).
    media_dir: Path = Path("data/media")


class WebhookSettings(_Section):
    # Callback URLs (and media URLs of jobs) that resolve to private, loopback or link-local
    # addresses are refused (SSRF) unless this is true (env DFS_WEBHOOKS__ALLOW_PRIVATE=true).
    allow_private: bool = False
    # Standard Webhooks signing secret ("whsec_" + base64). None: one is generated and kept in the
    # job database, so that the API and every worker sign alike (`deepfake-stream webhooks secret`).
    secret: SecretStr | None = None
    # Deliveries are retried with exponential backoff and jitter up to this many attempts...
    max_attempts: int = Field(default=10, ge=1, le=50)
    # ...waiting about this long before the second, doubling up to max_backoff_s.
    initial_backoff_s: float = Field(default=2.0, gt=0.0)
    max_backoff_s: float = Field(default=120.0, gt=0.0)
    # One delivery attempt's time limit: short, since a receiver only has to say it got it.
    timeout_s: float = Field(default=5.0, gt=0.0)


class AuthSettings(_Section):
    # Every /v1 request needs an API key (`deepfake-stream keys create`). Off in the embedded
    # default (a warning is logged at start-up), on in the production overlays.
    required: bool = False


class RetentionSettings(_Section):
    # A finished job's result (and its kept media) is deleted this many days after it ended.
    result_days: float = Field(default=7.0, gt=0.0)
    # How often the purge of expired jobs runs.
    purge_interval_s: float = Field(default=3600.0, gt=0.0)


class StreamSettings(_Section):
    # Frames analysed per second while every person in view is real, and otherwise.
    real_fps: float = Field(default=0.2, gt=0.0, le=30.0)
    watch_fps: float = Field(default=1.0, gt=0.0, le=30.0)
    # Streams at once (WebSocket clients and server-side readers together); more are refused.
    max_concurrent: int = Field(default=4, ge=1)
    # A heartbeat event this often, so that a client knows the stream is alive.
    heartbeat_s: float = Field(default=5.0, gt=0.0)
    # Events waiting for a slow client; beyond this the oldest scores are dropped (counted).
    max_pending_events: int = Field(default=64, ge=1)
    # Alerts and state changes are also published on Redis pub/sub, channel
    # <queue.namespace>:streams:<id>, when this is set (e.g. redis://127.0.0.1:6379/0).
    redis_url: str | None = None
    # States (streams/state.py): a person's last window_samples scores, judged against the
    # model's own thresholds as a file is; leaving real or fake needs the windowed score this
    # far past the threshold, in logit units.
    window_samples: int = Field(default=2, ge=1, le=60)
    hysteresis_logit: float = Field(default=0.5, ge=0.0, le=5.0)
    # A person not seen for this long (stream time) has left: their state ends ("lost").
    lost_after_s: float = Field(default=3.0, gt=0.0)
    # Alerts: a person turning fake; a frame rising into fake by spike_rise within
    # spike_within_s; fake held for sustained_s. Each fires at most once per cooldown_s a person.
    spike_rise: float = Field(default=0.3, gt=0.0, le=1.0)
    spike_within_s: float = Field(default=1.0, gt=0.0)
    sustained_s: float = Field(default=5.0, gt=0.0)
    cooldown_s: float = Field(default=30.0, ge=0.0)


class Settings(BaseSettings):
    """Everything configurable. Frozen: build a new one to change it."""

    model_config = SettingsConfigDict(
        env_prefix="DFS_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    model: ModelSettings = ModelSettings()
    fusion: FusionSettings = FusionSettings()
    voice: VoiceSettings = VoiceSettings()
    sampling: SamplingSettings = SamplingSettings()
    faces: FaceSettings = FaceSettings()
    verdict: VerdictSettings = VerdictSettings()
    limits: LimitSettings = LimitSettings()
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    queue: QueueSettings = QueueSettings()
    storage: StorageSettings = StorageSettings()
    webhooks: WebhookSettings = WebhookSettings()
    auth: AuthSettings = AuthSettings()
    retention: RetentionSettings = RetentionSettings()
    streams: StreamSettings = StreamSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML arrives as init kwargs; the environment must win over it.
        return (env_settings, init_settings)


def project_home() -> Path:
    """The folder relative paths are resolved against: $DFS_HOME, else this checkout."""
    from_env = os.environ.get(HOME_ENV_VAR)
    return Path(from_env).expanduser().resolve() if from_env else CHECKOUT_ROOT


def resolve_config_path(explicit: str | Path | None = None) -> Path | None:
    """The config file to load: explicit argument, then $DFS_CONFIG, then the home's default
    file. A path given on the command line or in $DFS_CONFIG is the caller's, relative to
    where they are."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env)
    default = project_home() / DEFAULT_CONFIG_NAME
    return default if default.exists() else None


def at_home(settings: Settings, home: Path) -> Settings:
    """`settings` with every relative path resolved against `home`."""

    def at(path: Path | None) -> Path | None:
        return path if path is None or path.is_absolute() else home / path

    def sqlite_at(url: str) -> str:
        file = url.removeprefix(SQLITE_PREFIX)
        if not url.startswith(SQLITE_PREFIX) or not file or file.startswith((":", "/")):
            return url  # another database, in memory, or already absolute
        return f"{SQLITE_PREFIX}{home / file}"

    model, server = settings.model, settings.server
    return settings.model_copy(
        update={
            "model": model.model_copy(
                update={"weights": at(model.weights), "onnx_cache_dir": at(model.onnx_cache_dir)}
            ),
            "fusion": settings.fusion.model_copy(update={"manifest": at(settings.fusion.manifest)}),
            "voice": settings.voice.model_copy(update={"weights": at(settings.voice.weights)}),
            "server": server.model_copy(update={"upload_dir": at(server.upload_dir)}),
            "database": settings.database.model_copy(
                update={"url": sqlite_at(settings.database.url)}
            ),
            "storage": settings.storage.model_copy(
                update={"media_dir": at(settings.storage.media_dir)}
            ),
        }
    )


def load_settings(path: str | Path | None = None) -> Settings:
    """Build Settings from a YAML file (see resolve_config_path) and the environment, with
    relative paths resolved against the project home."""
    config_path = resolve_config_path(path)
    data: dict[str, Any] = {}
    if config_path is not None:
        if not config_path.is_file():
            raise ConfigError(f"config file not found: {config_path}")
        try:
            loaded = yaml.safe_load(config_path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {config_path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {config_path} must hold a mapping at the top level")
        data = loaded
    try:
        settings = Settings(**data)
    except ValueError as exc:
        raise ConfigError(f"invalid configuration ({config_path or 'defaults'}): {exc}") from exc
    return at_home(settings, project_home())
