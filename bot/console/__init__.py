"""The volunteer console at /console/: server-rendered pages for the people who run a
campaign. Builds on the domain (bot.people, bot.campaigns, bot.delivery...); nothing
below the web layer imports it.

Each area module (auth, people, audit, ...) lists its routes in ``ROUTES``, every one
declaring the role it needs (bot.console.routing); bot.console.app gathers them.
"""
