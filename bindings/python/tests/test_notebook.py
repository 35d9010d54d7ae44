"""Executes examples/python/quickstart.ipynb end to end (headless).

Needs the notebook tools of requirements-dev.txt (nbclient, nbformat,
ipykernel, matplotlib); skipped with a reason when they are missing.
"""
import re
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="notebook test needs nbformat (requirements-dev.txt)")
nbclient = pytest.importorskip("nbclient", reason="notebook test needs nbclient (requirements-dev.txt)")
pytest.importorskip("ipykernel", reason="notebook test needs ipykernel (requirements-dev.txt)")
pytest.importorskip("matplotlib", reason="notebook test needs matplotlib (requirements-dev.txt)")

NOTEBOOK = Path(__file__).resolve().parents[3] / "examples" / "python" / "quickstart.ipynb"


def _text(output):
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return output.get("data", {}).get("text/plain", "")


def test_quickstart_notebook_runs(tmp_path):
    assert NOTEBOOK.is_file(), f"notebook not found at {NOTEBOOK}"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}},
    )
    start = time.monotonic()
    client.execute()  # raises CellExecutionError on any cell error
    elapsed = time.monotonic() - start

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) >= 2, f"expected the nDCG and CTR charts, got {len(pngs)} image/png outputs"

    ab = [c for c in nb.cells if "ab-simulation" in c.get("metadata", {}).get("tags", [])]
    assert len(ab) == 1, "the A/B cell is tagged 'ab-simulation'"
    printed = "".join(_text(o) for o in ab[0].get("outputs", []))
    ctr = dict(re.findall(r"^CTR (\S+): ([0-9.]+)%", printed, flags=re.M))
    assert set(ctr) == {"personal", "popular-only"}, printed
    assert all(0.0 < float(v) < 100.0 for v in ctr.values()), ctr
    # Generous bound; the notebook takes well under a minute on 2 cores.
    assert elapsed < 600, f"notebook took {elapsed:.0f}s"
