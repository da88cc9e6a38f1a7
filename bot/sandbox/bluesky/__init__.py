"""The Bluesky stand-in: a PDS, an AppView, handle resolution and plc.directory."""
