"""The sandbox: a real HTTP server standing in for X API v2 and the Facebook Graph API.

One port serves three things (see ``server.SandboxApp``):

- ``/2/...`` X API v2, on a raw-ASGI hot path (``x/api``, ``x/render``, ``x/state``,
  ``x/reads``), every call OAuth 1.0a-verified (``x/oauth1``) or bearer-authenticated
  for reads, with X's rate-limit headers (``ratelimit``); ``/oauth/...`` X's 3-legged
  flow (``x/oauth_flow``);
- ``/v<N>/...`` the Graph API and Facebook Login (``graph/``: api, state, tokens, login,
  reads, fields, limits, errors, admin; ``engagement``);
- ``/_sandbox/...`` the admin API and the timeline page (``admin``, ``page``).

Faults (latency, 5xx, timeouts, resets, lost answers, scripted answers) wrap the two
platform APIs (``faults``). ``testing`` starts sandboxes for tests and benchmarks;
``cli`` is ``clarion sandbox`` / ``python -m bot.sandbox``; ``persistence`` is --state.
"""
