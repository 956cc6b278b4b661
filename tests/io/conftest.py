"""Importer tests: make ``io_helpers`` (builders of small real input files) importable."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
