"""The API's routers, one module per area; each maps a route to one SDK call."""
