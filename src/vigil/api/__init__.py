"""Query and admin JSON APIs (FastAPI routers), and the errors and auth they share."""
