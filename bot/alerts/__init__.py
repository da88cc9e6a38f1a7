"""Alerts: tell the people who should know when something goes wrong or finishes.

A watcher reads the database on its own schedule (never hooked into posting, so a
receiver that is down cannot slow a post): ``detection`` turns new rows into events, each
once; ``grouping`` folds a burst of events into one alert in the inbox; ``sending`` takes
each alert to the campaign's channels (``channels/``: email, signed webhook) with retries.
``watcher`` runs the two rounds; ``channel_settings`` stores where each campaign's go.
"""
