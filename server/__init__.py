"""The one ASGI application: open data now; the agency API and the portal mount here later."""
