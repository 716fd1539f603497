"""notebooks/explore.ipynb runs top to bottom on the shipped weights and a tiny crop folder."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).parent.parent
NOTEBOOK = REPO / "notebooks" / "explore.ipynb"
SHIPPED_MANIFEST = REPO / "weights" / "srm-lite0-wild.json"
CELL_TIMEOUT_S = 300


def _with_parameters(notebook: nbformat.NotebookNode, parameters: dict[str, object]) -> None:
    (cell,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    cell.source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())


def test_explore_notebook_runs_on_a_tiny_folder(face_folder: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # A training config over the fixture folder (the shipped ones name ../shared): half of
    # its groups are the validation split the notebook scores.
    train_config = tmp_path / "train.yaml"
    train_config.write_text(f"data: {face_folder}\nvalidation_fraction: 0.5\nseed: 0\n")
    _with_parameters(
        notebook,
        {
            "DATA": str(face_folder),
            "MANIFEST": str(SHIPPED_MANIFEST),
            "TRAIN_CONFIG": str(train_config),
            "VALIDATION_ONLY": True,
            "PER_CLASS": 4,
            "SEED": 0,
        },
    )
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    # Examples, ROC + histograms, two rows of hardest faces, Grad-CAM (no size histogram:
    # the tiny folder has no size columns).
    assert len(figures) == 5
    scored = [o for o in outputs if "'auc'" in str(o.get("data", {}).get("text/plain", ""))]
    assert scored, "the metrics cell printed no report"
