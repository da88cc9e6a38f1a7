"""Campaigns.

What volunteers ask for (specs, text rules), putting it in the queue, the campaign's own
accounts, and schedule files.
"""
