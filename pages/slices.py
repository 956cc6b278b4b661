"""Model Quality › Slices: where the model is weakest over two data metrics at once (``explorer.ui.slices``): a
metric × metric heatmap of TPR or precision with counts, and the ranked weakest slices, each opening in the
Failure Explorer."""
from __future__ import annotations

import streamlit as st

from explorer.errors import UserError
from explorer.ui.slices import render_slices
from explorer.ui.state import selection
from explorer.ui.text import plain

try:
    render_slices(selection())
except UserError as e:
    st.error(plain(e))
