from __future__ import annotations

import subprocess
import sys

import pytest

from deepfake_stream.detection.registry import get_spec, list_detectors
from deepfake_stream.errors import ConfigError


def test_registry_lists_and_refuses_unknown_names() -> None:
    assert {"srm_efficientnet_lite0", "srm_efficientnet_lite1", "srm_efficientnet_b0"} <= set(
        list_detectors()
    )
    with pytest.raises(ConfigError, match="unknown detector"):
        get_spec("resnet_9000")


def test_each_architecture_carries_its_crop_contract() -> None:
    lite0 = get_spec("srm_efficientnet_lite0").crop
    assert lite0.normalisation() == (224, (0.5,) * 3, (0.5,) * 3)
    assert (lite0.margin, lite0.jpeg_quality) == (0.3, None)  # untrained: no release's crop
    assert get_spec("srm_efficientnet_lite2").crop.size == 260


def test_the_branches_register_on_the_first_lookup_with_nothing_imported_before() -> None:
    # A fresh interpreter: importing the registry alone loads no branch module, and the first
    # lookup finds both built-in branches (the face branch and the frequency branch).
    probe = (
        "import sys; from deepfake_stream.detection import registry; "
        "assert 'deepfake_stream.detection.frequency' not in sys.modules; "
        "assert 'deepfake_stream.detection.model' not in sys.modules; "
        "print(registry.get_spec('dct_cnn').name, registry.get_spec('srm_efficientnet_lite0').name)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["dct_cnn", "srm_efficientnet_lite0"]
