"""Every router the app mounts, in one list (the OpenAPI document describes exactly these)."""

from api.routes.admin import router as admin_router
from api.routes.auth import router as auth_router
from api.routes.billing import router as billing_router
from api.routes.health import router as health_router
from api.routes.mappings import room_router as room_mappings_router
from api.routes.mappings import router as mappings_router
from api.routes.orders import router as orders_router
from api.routes.pricing_rules import router as pricing_rules_router
from api.routes.quotes import router as quotes_router
from api.routes.settlements import router as settlements_router
from api.routes.webhooks import router as webhooks_router

# Requests are matched against the routers in this order: the partners' hot paths first.
ROUTERS = [quotes_router, orders_router, auth_router, health_router, admin_router, settlements_router,
           billing_router, mappings_router, room_mappings_router, pricing_rules_router, webhooks_router]
