"""Built-in metric units; importing this package registers them (stamped ``source="builtin"``)."""
from metrics.registry import BUILTIN, registering_as

with registering_as(BUILTIN):
    from metrics.builtin import boxes, frame, frame_table  # noqa: F401
