"""Drawing for galleries: boxes and masks on images (``render``), gallery tiles (``tiles``, ``failure_tiles``)."""
