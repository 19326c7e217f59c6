"""The self-hosted media server: the nginx config template, its renderer and the ladder script."""
