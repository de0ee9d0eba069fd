"""chatapp: an LLM chat app that keeps each user's conversation in Redis."""

__version__ = "0.3"
