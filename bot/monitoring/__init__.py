"""Watching a running Clarion: Prometheus metrics and the readiness checks.

``metrics``: the one place instrumentation lives. The delivery engine and the engagement
poller call a ``Metrics`` object (cheap counters, no database reads on the hot path);
what the database knows (deliveries by state, release progress, the scheduler's last
tick) is read at scrape time, cached a few seconds. Each ``Metrics`` has its own registry,
so a test makes its own.

``health``: what ``/readyz`` answers: the database reachable, its migrations current, the
scheduler ticking and the platforms reachable at the last attempt. The web layer serves
both (bot/web/health.py), on the public server or on METRICS_BIND.
"""
