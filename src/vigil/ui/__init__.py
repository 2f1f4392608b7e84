"""The web UI: login, sessions and server-rendered pages over the JSON APIs."""
