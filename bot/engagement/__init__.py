"""Engagement: what happened to posts after they went out (issue 5).

``plan`` decides when each sent delivery is snapshotted and finds what is due, ``poll``
runs one round of batched reads through the platforms' metric readers, ``store`` writes
the rows in bulk, ``costs`` prices X reads and applies a campaign's cap, ``sampling``
reads a sample of a large release and estimates its total, ``report`` and ``chart`` turn
the rows into tables, CSV, JSON and a picture.
"""
