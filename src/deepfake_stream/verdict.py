"""The verdict policy: the thresholds in force for photos and for videos and streams, the
abstentions (branches that disagree, faces unlike the training faces), the untrained guard,
and the warnings that say why a verdict is what it is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .config import VerdictSettings
from .detection.aggregate import Verdict, verdict_for
from .detection.fusion import Branch, FusionManifest, disagreement_warning, novelty_warning
from .detection.weights import UNTRAINED_THRESHOLDS, WeightsManifest
from .errors import ConfigError

UNTRAINED_WARNING = (
    "untrained model: no trained weights are loaded, so the probabilities carry no meaning "
    "and the verdict is never real or fake"
)


@dataclass(frozen=True)
class VerdictPolicy:
    real_below: float  # below it a video or a stream's person is real
    photo_real_below: float  # below it a photo is real; never above real_below
    fake_at_or_above: float
    photo_fake_at_or_above: float  # at or above it a photo is fake; never below the above
    # The real threshold chosen on validation, when a calibration on methods outside the
    # training data lowered it (and the config does not override it); else None.
    validation_real_below: float | None
    untrained: bool  # no trained weights: never real or fake
    # With a fusion: a branch at or above this against another at or below 1 - it makes a
    # real or fake verdict uncertain, as do faces unlike the training faces. None: no fusion.
    disagreement: float | None

    def thresholds(self, photo: bool) -> tuple[float, float]:
        """(real_below, fake_at_or_above) for a photo or for a video."""
        if photo:
            return self.photo_real_below, self.photo_fake_at_or_above
        return self.real_below, self.fake_at_or_above

    def person(self, probability: float, photo: bool) -> Verdict:
        """One person's verdict from their probability alone."""
        if self.untrained:
            return Verdict.UNCERTAIN
        return verdict_for(probability, *self.thresholds(photo))

    def judge(
        self,
        probability: float | None,
        branch_probabilities: Mapping[Branch, float | None],
        novelty: float | None,
        photo: bool,
    ) -> tuple[Verdict, list[str]]:
        """A file's verdict from its probability, its branches' and its faces' novelty, and the
        warnings that explain it."""
        real_below, fake_at = self.thresholds(photo)
        verdict = verdict_for(probability, real_below, fake_at)
        warnings = []
        unvouched = calibrated_real_warning(
            probability, real_below, self.validation_real_below, photo
        )
        if unvouched is not None:
            warnings.append(unvouched)
        if self.disagreement is not None and verdict in (Verdict.REAL, Verdict.FAKE):
            abstain = disagreement_warning(
                branch_probabilities, self.disagreement
            ) or novelty_warning(novelty)
            if abstain is not None:
                warnings.append(abstain)
                verdict = Verdict.UNCERTAIN
        if self.untrained:
            warnings.append(UNTRAINED_WARNING)
            if verdict is not Verdict.NO_FACE:
                verdict = Verdict.UNCERTAIN
        return verdict, warnings


def policy_for(
    settings: VerdictSettings, source: FusionManifest | WeightsManifest | None
) -> VerdictPolicy:
    """The policy in force: the config's thresholds, else those of the fusion or the face
    weights (`source`); an untrained model (no source) gets wide, meaningless ones."""
    if source is None:
        real_below, fake_at = UNTRAINED_THRESHOLDS
        photo_real_below, photo_fake_at = real_below, fake_at
    else:
        real_below = source.thresholds.real_below
        fake_at = source.thresholds.fake_at_or_above
        photo_real_below = source.thresholds.photo_real_below_in_force()
        photo_fake_at = source.thresholds.photo_fake_at_or_above_in_force()
    # Either calibration records the threshold chosen on validation that it lowered.
    calibration = (source.calibration or source.photo_calibration) if source is not None else None
    if settings.real_below is not None:  # the config's overrides both
        real_below = photo_real_below = settings.real_below
    if settings.fake_at_or_above is not None:  # likewise
        fake_at = photo_fake_at = settings.fake_at_or_above
    if real_below > fake_at:
        raise ConfigError("verdict thresholds: real_below must not exceed fake_at_or_above")
    return VerdictPolicy(
        real_below=real_below,
        photo_real_below=photo_real_below,
        fake_at_or_above=fake_at,
        photo_fake_at_or_above=photo_fake_at,
        validation_real_below=(
            calibration.validation_real_below
            if calibration is not None and settings.real_below is None
            else None
        ),
        untrained=source is None,
        disagreement=source.disagreement if isinstance(source, FusionManifest) else None,
    )


def calibrated_real_warning(
    probability: float | None,
    real_below: float,
    validation_real_below: float | None,
    photo: bool = False,
) -> str | None:
    """Why a file the validation threshold would call real is `uncertain`: the real
    threshold (of photos, or of videos) was calibrated on methods the model was not trained
    on (training/calibrate)."""
    if probability is None or validation_real_below is None:
        return None
    if not real_below <= probability < validation_real_below:
        return None
    unseen = "generated faces score" if photo else "methods it was not trained on score"
    return (
        f"no sign of the manipulations the model was trained on (probability {probability:.3f}"
        f", under the {validation_real_below:.3f} chosen on validation), but {unseen} this low "
        f"too: only below {real_below:.3g} is {'a photo' if photo else 'the verdict'} real"
    )
