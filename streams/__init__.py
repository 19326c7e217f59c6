"""Live streams: lifecycle, stream keys, media backends, ingest callbacks and recordings."""
