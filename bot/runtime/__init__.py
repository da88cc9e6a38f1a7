"""Running Clarion.

``wiring``: from settings to a database, a vault, platforms and a deliverer.
``rehearsal``: the sandbox's campaign accounts and example posts.
``process``: what `python main.py run` and `web` start, composed in one place
(``start_everything`` → a ``Process`` with ``stop()``); the CLI only parses and prints.
"""
