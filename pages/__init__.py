"""Streamlit pages of the explorer app (routed by ``explorer/app.py``; installed as ``explorer.pages``)."""
