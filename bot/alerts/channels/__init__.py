"""Alert channels: each builds its message from an ``AlertMessage`` and makes one
attempt; retries and backoff live in bot.alerts.sending only."""
