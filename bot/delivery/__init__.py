"""The delivery engine.

The clock (daemon), the dispatcher, the deliverer (the only place that retries), the ledger and
its sweeps (the daemon's housekeeping over the whole table).
"""
