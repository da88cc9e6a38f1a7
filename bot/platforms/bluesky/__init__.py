"""Bluesky (AT Protocol): the supporters' OAuth sign-in (``oauth``)."""
