"""The sandbox's X API v2.

State, routes, bodies and OAuth 1.0a.
"""
