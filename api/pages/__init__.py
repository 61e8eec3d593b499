"""Server-rendered pages (HTML, cookie sessions), apart from the JSON routes in api/routes/.

Every page module builds on `api.pages.common` (sign-in, CSRF, forms, the one template environment) and
renders templates from api/templates/<area>/ over the one base.html and the stylesheet /static/app.css.
"""

from api.pages.billing import router as billing_pages
from api.pages.console import router as console_pages
from api.pages.console_home import router as console_home_pages
from api.pages.console_mappings import router as console_mappings_pages
from api.pages.console_orders import router as console_orders_pages
from api.pages.console_partners import router as console_partners_pages
from api.pages.console_settings import router as console_settings_pages
from api.pages.console_suppliers import router as console_suppliers_pages
from api.pages.pricing import router as pricing_pages
from api.pages.reports import router as reports_pages
from api.pages.settlement import router as settlement_pages

# Matched after the JSON routers (api/routes/ROUTERS): none of these paths start with /v1.
PAGES = [console_pages, console_home_pages, console_orders_pages, console_partners_pages, console_suppliers_pages,
         console_mappings_pages, console_settings_pages, settlement_pages, billing_pages, reports_pages, pricing_pages]
