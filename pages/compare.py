"""Model Quality › Compare runs: model A vs model B on the same labels (``explorer.ui.compare``): headline and
per-class deltas with paired bootstrap intervals, per-bucket rate deltas for any metric, and the galleries of
objects B fixed and broke."""
from __future__ import annotations

import streamlit as st

from explorer.errors import UserError
from explorer.ui.compare import render_compare
from explorer.ui.state import selection
from explorer.ui.text import plain

try:
    render_compare(selection())
except UserError as e:
    st.error(plain(e))
