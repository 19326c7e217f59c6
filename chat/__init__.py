"""Live chat: the WebSocket consumer, chat messages, moderation and rate limits."""
