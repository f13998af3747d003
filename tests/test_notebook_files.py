"""The committed notebooks stay small and render on GitHub: no saved widget state (the
views' snapshots are what a reader without a kernel sees), bounded size."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tools.scrub import machine_paths

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted([*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("widgets/*.ipynb")])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_notebook_file_is_clean(path):
    nb = nbformat.read(path, as_version=4)
    # Saved widget state is ~1 MB per app notebook, and GitHub refuses notebooks whose
    # metadata.widgets lacks it: keep neither.
    assert "widgets" not in nb.metadata, f"{path.name}: strip metadata.widgets"
    assert path.stat().st_size < 600_000, f"{path.name}: {path.stat().st_size} bytes"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_saved_outputs_show_no_machine_paths(path):
    # `make notebooks` scrubs them when it records; `--scrub-only` fixes saved outputs.
    nb = nbformat.read(path, as_version=4)
    assert machine_paths(nb, (str(ROOT),)) == []


WIDGET_NOTEBOOKS = sorted(ROOT.glob("widgets/*.ipynb"))


@pytest.mark.parametrize("path", WIDGET_NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_saved_widget_notebook_html_shows_its_charts(path):
    """What GitHub and nbconvert show of a committed app notebook: its views' snapshots,
    charts included (each chart lives inside the text/html they prefer)."""
    from html_images import html_pngs
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    saved = [
        png
        for cell in nb.cells
        for out in cell.get("outputs", [])
        for png in html_pngs(out.get("data", {}).get("text/html", ""))
    ]
    assert saved, f"{path.name}: no saved view shows a chart; record it with `make notebooks`"
    page, _ = HTMLExporter().from_notebook_node(nb)
    assert html_pngs(page) == saved
