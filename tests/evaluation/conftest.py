"""Evaluation tests: make the ``random_coco`` helper next to this file importable (importlib import mode)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
