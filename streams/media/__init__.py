"""The media plane: ingest and recordings (services, selectors, tasks), its REST API and routes, and the
media systems behind one interface (backends/: one package per provider, rtmp the self-hosted one).

It stands on the stream lifecycle (streams.models, streams.services, streams.selectors); the
lifecycle never imports it.
"""
