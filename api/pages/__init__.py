"""Server-rendered pages (HTML, cookie sessions), apart from the JSON routes in api/routes/.

Every page module builds on `api.pages.common` (sign-in, CSRF, forms, the one template environment) and
renders templates from api/templates/<area>/ over the one base.html and the stylesheet /static/app.css.
"""

from api.pages.billing import router as billing_pages
from api.pages.pricing import router as pricing_pages
from api.pages.reports import router as reports_pages
from api.pages.settlement import router as settlement_pages

# Matched after the JSON routers (api/routes/ROUTERS): none of these paths start with /v1.
PAGES = [settlement_pages, billing_pages, reports_pages, pricing_pages]
