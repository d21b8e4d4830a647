"""The web UI: server-rendered pages under ``/ui`` that read only through the HTTP API.

The agent mounts ``routes()`` next to its ``/v1`` routes. Every page handler asks the
agent's own API in-process (``gitorch.ui.api``), passing the user's ACL token along, so
the UI holds no state and sees exactly what a CLI user with that token sees.
"""

from gitorch.ui.routes import routes

__all__ = ["routes"]
