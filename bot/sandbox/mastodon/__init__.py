"""Any number of Mastodon instances on the sandbox's one port, told apart by host name
(``/_host/<host>/...``, bot/sandbox/hosts.py): app registration, OAuth 2, statuses with
idempotency keys, per-instance character limits and rate limits (``service``), their
state (``state``)."""
