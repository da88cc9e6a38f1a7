"""The sandbox's Facebook Graph API.

State, routes, fields, limits, errors and Facebook Login.
"""
