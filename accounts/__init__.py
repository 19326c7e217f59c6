"""Users, roles (artist or viewer) and API tokens."""
