"""Every router the app mounts, in one list (the OpenAPI document describes exactly these)."""

from api.routes.health import router as health_router

ROUTERS = [health_router]
