"""The campaign pages: public pledge pages, signing supporters in with X and Facebook,
and the private withdraw link. ``app.create_web_app(runtime)`` builds the Starlette app;
``server.serving_web`` runs it beside the daemon."""
