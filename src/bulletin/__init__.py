"""bulletin: collects a newsroom's daily items, publishes feeds and mails a daily digest."""

__version__ = "0.1.0"
