"""The sandbox's Bluesky: accounts and identity (``state``, ``service``) and the OAuth
authorization server (``oauth_server``)."""
