"""The open-data portal: server-rendered pages (Jinja2 templates, one CSS file, no JavaScript)
over the catalogue and opendata's Python interfaces (never their HTTP API)."""
