"""Pledge campaigns (Thunderclap-style): supporters pledge their accounts, and at the
release time the message goes out from every pledged account through the delivery ledger.

``pledging`` is what the web app calls; ``campaigns`` creates and edits campaigns;
``readiness`` checks tokens before the release; ``release`` turns pledges into deliveries;
``rules`` checks platform limits, costs and identical text before it; ``jobs`` are the
daemon's pledge housekeeping; ``oauth_requests`` keeps sign-ins in progress.
"""
