"""Server-rendered pages (HTML, cookie sessions), apart from the JSON routes in api/routes/."""

from api.pages.pricing import router as pricing_pages

PAGES = [pricing_pages]
