"""Bundled sample projects (installed as ``explorer.sample_data``); see ``sample_data/README.md``."""
