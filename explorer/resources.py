"""Where the bundled pages and sample data are, whether installed (``explorer/pages``) or in a checkout (``pages/``)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def _package_dir(package: str, checkout_dir: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return _REPO / checkout_dir


def pages_dir() -> Path:
    """Folder of the Streamlit page scripts."""
    return _package_dir("explorer.pages", "pages")


def sample_data_dir() -> Path:
    """Folder of the bundled sample projects' raw inputs (images, labels, predictions)."""
    return _package_dir("explorer.sample_data", "sample_data")
