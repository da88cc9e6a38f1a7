"""The Bluesky stand-in: a PDS, an AppView, handle resolution and plc.directory
(``state``, ``service``), and the OAuth authorization server (``oauth_server``)."""
