"""Errors that reach users. Each carries a stable machine-readable code and an HTTP status,
so the CLI and the API report the same failure the same way."""

from __future__ import annotations


class DeepfakeStreamError(Exception):
    """Base class: a failure we can explain to the caller."""

    code = "error"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(DeepfakeStreamError):
    """The configuration is invalid or asks for something this machine does not have."""

    code = "config_error"
    http_status = 500


class DeviceUnavailableError(ConfigError):
    code = "device_unavailable"


class WeightsError(DeepfakeStreamError):
    """Weights are missing, or do not match their manifest."""

    code = "weights_error"
    http_status = 500


class MediaError(DeepfakeStreamError):
    """Base for problems with the submitted file."""

    code = "media_error"
    http_status = 400


class UnsupportedMediaTypeError(MediaError):
    code = "unsupported_media_type"
    http_status = 415


class CorruptMediaError(MediaError):
    code = "corrupt_media"
    http_status = 400


class EmptyMediaError(MediaError):
    """The file is valid but holds nothing to analyse (empty upload, zero-length video)."""

    code = "empty_media"
    http_status = 400


class FileTooLargeError(MediaError):
    code = "file_too_large"
    http_status = 413


class DurationTooLongError(MediaError):
    code = "duration_too_long"
    http_status = 413


class TooManyPixelsError(MediaError):
    code = "too_many_pixels"
    http_status = 413


class AnalysisTimeoutError(MediaError):
    """The analysis ran past limits.max_analysis_s and was stopped. 422, not 408: the request
    arrived whole and is valid, and the same file would time out again (clients and proxies
    retry a 408 by themselves); not 504 either, which says a retry may succeed."""

    code = "analysis_timeout"
    http_status = 422


class InvalidParametersError(DeepfakeStreamError):
    code = "invalid_parameters"
    http_status = 422


class InvalidFrameTimeError(InvalidParametersError):
    """A stream frame's time is not finite, negative, absurd, or earlier than the last one."""

    code = "invalid_frame_time"


class NotReadyError(DeepfakeStreamError):
    code = "not_ready"
    http_status = 503


class BrokerUnavailableError(DeepfakeStreamError):
    """The job queue's broker cannot be reached."""

    code = "broker_unavailable"
    http_status = 503


class BusyError(DeepfakeStreamError):
    code = "busy"
    http_status = 503


class GatewayTimeoutError(DeepfakeStreamError):
    """A synchronous analysis waited for a worker longer than allowed."""

    code = "timeout"
    http_status = 504


class TooManyStreamsError(DeepfakeStreamError):
    code = "too_many_streams"
    http_status = 503


class NotFoundError(DeepfakeStreamError):
    code = "not_found"
    http_status = 404


class UnauthorizedError(DeepfakeStreamError):
    """No API key, or one that is unknown or revoked."""

    code = "unauthorized"
    http_status = 401


class ForbiddenError(DeepfakeStreamError):
    """The key lacks the scope the request needs."""

    code = "forbidden"
    http_status = 403


class RateLimitedError(DeepfakeStreamError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def error_for_code(code: str, message: str) -> DeepfakeStreamError:
    """The error a code names (as recorded on a failed job), to raise again elsewhere."""
    pending: list[type[DeepfakeStreamError]] = [DeepfakeStreamError]
    while pending:
        cls = pending.pop()
        if cls.code == code and cls is not RateLimitedError:
            return cls(message)
        pending.extend(cls.__subclasses__())
    return DeepfakeStreamError(message)
