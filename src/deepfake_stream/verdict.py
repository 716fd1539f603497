"""The verdict policy: the thresholds in force for photos and for videos and streams, the
abstentions (branches that disagree, faces unlike the training faces), the untrained guard,
and the warnings that say why a verdict is what it is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .config import VerdictSettings
from .detection.aggregate import Verdict, verdict_for
from .detection.fusion import Branch, FusionManifest, disagreement_warning, novelty_warning
from .detection.weights import UNTRAINED_THRESHOLDS, FakeCalibration, WeightsManifest
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
    # How the photo fake threshold was calibrated on held-out real photos, when it was (and the
    # config does not override it): it raises the threshold for photos of several faces.
    photo_fake_calibration: FakeCalibration | None = None

    def thresholds(self, photo: bool, faces: int = 1) -> tuple[float, float]:
        """(real_below, fake_at_or_above) for a photo of `faces` faces, or for a video."""
        if not photo:
            return self.real_below, self.fake_at_or_above
        fake_at = self.photo_fake_at_or_above
        if self.photo_fake_calibration is not None:
            fake_at = max(fake_at, self.photo_fake_calibration.fake_at_or_above_for(faces))
        return self.photo_real_below, fake_at

    def person(self, probability: float, photo: bool, faces: int = 1) -> Verdict:
        """One person's verdict from their probability alone (in a photo of `faces` faces)."""
        if self.untrained:
            return Verdict.UNCERTAIN
        return verdict_for(probability, *self.thresholds(photo, faces))

    def judge(
        self,
        probability: float | None,
        branch_probabilities: Mapping[Branch, float | None],
        novelty: float | None,
        photo: bool,
        faces: int = 1,
    ) -> tuple[Verdict, list[str]]:
        """A file's verdict from its probability, its branches' and its faces' novelty (and, for
        a photo, how many faces it shows), and the warnings that explain it."""
        real_below, fake_at = self.thresholds(photo, faces)
        verdict = verdict_for(probability, real_below, fake_at)
        warnings = []
        single_face_cut = self.thresholds(photo)[1]
        if probability is not None and single_face_cut <= probability < fake_at:
            warnings.append(
                f"{faces} faces were judged: in a photo of {faces} faces one is fake only at or "
                f"above {fake_at:.3f} ({single_face_cut:.3f} for one face), so that a real "
                "group photo is called fake no more often than a real portrait"
            )
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
        photo_fake_calibration=(
            source.photo_fake_calibration
            if source is not None and settings.fake_at_or_above is None
            else None
        ),
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


VOICE_FAKE_WARNING = "the voice is judged spoofed (cloned or synthesised): the file is fake"
VOICE_UNSURE_WARNING = (
    "the faces look real, but the voice model could not vouch for the voice (uncertain): a "
    "cloned voice it does not know would look the same"
)


def weigh_voice(face: Verdict, voice: str | None) -> tuple[Verdict, list[str]]:
    """A video's verdict from its faces' and its voice's (audio.voice.VoiceVerdict values;
    None: no sound track or the branch is off). Either one fake makes the file fake: a cloned
    voice over a real face is a deepfake. A video without a face is judged on its voice alone.
    An uncertain voice does not take a real verdict from real faces: the voice model is
    uncertain on most real speech it has not heard (model card), and vetoing every such file
    would leave no video real; the warning says it."""
    if voice is None or voice == "no_speech":
        return face, []
    if voice == "fake":
        return Verdict.FAKE, [VOICE_FAKE_WARNING]
    if face is Verdict.NO_FACE:
        return Verdict(voice), []
    if face is Verdict.REAL and voice == "uncertain":
        return Verdict.REAL, [VOICE_UNSURE_WARNING]
    return face, []
