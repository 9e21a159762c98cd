"""Pages to start from: each a name, a line saying what it is for, a theme and blocks that
pass their types' checks as they are (the owner then edits the placeholders in the builder).

A new microsite made from one goes through ``services.create_microsite`` like any other, so
the API can do the same by sending a starter's ``blocks`` and ``theme`` (GET
/api/v1/microsites/starters).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


@dataclass(frozen=True)
class Starter:
    key: str
    label: str
    description: str
    icon: str
    theme: dict[str, Any] = field(default_factory=dict)
    blocks: tuple[dict[str, Any], ...] = ()

    def content(self) -> dict[str, Any]:
        """A fresh copy of the starter's content for ``services.create_microsite``."""
        return {"theme": copy.deepcopy(self.theme), "blocks": copy.deepcopy(list(self.blocks))}


def _hours(opens: str, closes: str, weekend: bool) -> list[dict[str, Any]]:
    days = [{"day": d, "opens": opens, "closes": closes} for d in WEEKDAYS]
    days += [{"day": d, "closed": not weekend, "opens": opens if weekend else "",
              "closes": closes if weekend else ""} for d in ("sat", "sun")]
    return days


STARTERS: dict[str, Starter] = {s.key: s for s in [
    Starter("blank", "Blank page", "Start from nothing and add the blocks you need.",
            "file", {"name": "classic"}, ()),
    Starter("link_in_bio", "Link in bio", "Your picture, a short bio and your links: one "
            "address for every profile.", "link", {"name": "midnight"}, (
                {"type": "profile", "name": "Your name",
                 "bio": "What you do, in a sentence or two."},
                {"type": "link", "label": "My website", "url": "https://example.com",
                 "icon": "globe"},
                {"type": "link", "label": "Latest project", "url": "https://example.com/new",
                 "icon": "star", "style": "secondary"},
                {"type": "link", "label": "Shop", "url": "https://example.com/shop",
                 "icon": "shopping-cart", "style": "secondary"},
                {"type": "social", "links": [
                    {"network": "instagram", "url": "https://instagram.com/yourname"},
                    {"network": "tiktok", "url": "https://tiktok.com/@yourname"},
                    {"network": "youtube", "url": "https://youtube.com/@yourname"}]},
            )),
    Starter("restaurant_menu", "Restaurant menu", "Today's menu, opening hours, where to find "
            "you and a way to book a table.", "utensils", {"name": "sunset"}, (
                {"type": "profile", "name": "Trattoria Example",
                 "bio": "Fresh pasta and wood-fired pizza since 1998."},
                {"type": "heading", "text": "Menu"},
                {"type": "text", "html": "<h3>Starters</h3><ul><li>Bruschetta · 6.50</li>"
                                         "<li>Minestrone · 7.00</li></ul><h3>Mains</h3><ul>"
                                         "<li>Tagliatelle al ragù · 14.00</li><li>Pizza "
                                         "margherita · 11.00</li></ul>"},
                {"type": "link", "label": "Book a table", "url": "tel:+441234567890",
                 "icon": "phone"},
                {"type": "hours", "title": "Opening hours", "days": _hours("12:00", "22:00",
                                                                             True)},
                {"type": "map", "label": "Find us",
                 "address": "1 Example Street\nExample Town"},
                {"type": "wifi", "ssid": "Trattoria-Guests", "security": "WPA",
                 "password": "change-me-please"},
            )),
    Starter("business_card", "Business card", "Your contact details with a Save contact "
            "button, and where else to find you.", "contact", {"name": "classic"}, (
                {"type": "profile", "name": "Alex Example", "bio": "Product designer"},
                {"type": "contact", "first_name": "Alex", "last_name": "Example",
                 "organization": "Example Ltd", "title": "Product designer",
                 "phone": "+441234567890", "email": "alex@example.com",
                 "website": "https://example.com"},
                {"type": "link", "label": "Book a meeting",
                 "url": "https://example.com/meet", "icon": "calendar"},
                {"type": "social", "links": [
                    {"network": "linkedin", "url": "https://linkedin.com/in/alexexample"},
                    {"network": "email", "url": "mailto:alex@example.com"}]},
            )),
    Starter("event", "Event", "What, when and where, with tickets and a sign-up form.",
            "calendar", {"name": "midnight"}, (
                {"type": "heading", "text": "Summer Meetup 2027", "level": "h2"},
                {"type": "text", "html": "<p><strong>Saturday 12 June, 18:00</strong></p>"
                                         "<p>Talks, music and food with the community. "
                                         "Bring a friend!</p>"},
                {"type": "link", "label": "Get tickets", "url": "https://example.com/tickets",
                 "icon": "ticket"},
                {"type": "map", "label": "Venue", "address": "Example Hall\n1 Example Street"},
                {"type": "divider", "style": "line"},
                {"type": "lead_form", "title": "Keep me posted", "fields": [
                    {"name": "name", "required": True}, {"name": "email", "required": True}],
                 "button": "Sign up"},
            )),
    Starter("product", "Product", "Show a product, what makes it good and where to buy it.",
            "shopping-cart", {"name": "mono"}, (
                {"type": "heading", "text": "The Example Kettle"},
                {"type": "text", "html": "<p>Boils a litre in under two minutes, keeps it hot "
                                         "for an hour.</p><ul><li>Stainless steel</li><li>"
                                         "Five-year warranty</li></ul>"},
                {"type": "link", "label": "Buy now", "url": "https://example.com/buy",
                 "icon": "shopping-cart"},
                {"type": "link", "label": "User manual", "url": "https://example.com/manual",
                 "icon": "file-text", "style": "secondary"},
                {"type": "lead_form", "title": "Questions? Ask us", "fields": [
                    {"name": "email", "required": True}, {"name": "message",
                                                          "required": True}]},
            )),
    Starter("app_download", "App download", "Send people to your app in the store their "
            "phone uses.", "download", {"name": "forest"}, (
                {"type": "profile", "name": "Example App",
                 "bio": "Plan your week in a minute."},
                {"type": "link", "label": "Download on the App Store",
                 "url": "https://apps.apple.com/app/id000000000", "icon": "download"},
                {"type": "link", "label": "Get it on Google Play",
                 "url": "https://play.google.com/store/apps/details?id=com.example.app",
                 "icon": "download"},
                {"type": "text", "html": "<p>Free to try. Works offline. No ads.</p>"},
            )),
]}
DEFAULT_STARTER = "blank"


def starter(key: str | None) -> Starter | None:
    return STARTERS.get(key or DEFAULT_STARTER)
