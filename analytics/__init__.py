"""Viewer metrics: sessions, quality reports and rollups."""
