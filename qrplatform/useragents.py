"""Who is asking: a person, a bot, a link preview, or a HEAD probe.

Bots are recognised by ``crawlerdetect`` (a maintained port of the PHP CrawlerDetect list of
some thousand crawlers, tools and libraries). Link previews are the bots that fetch a link
because someone pasted it into a chat or a post; they are told apart by name because they are
the ones that follow links *on behalf of* a person, so analytics may want to show them apart.

``classify(method, user_agent)`` → ``(classification, reason)``: ``("head", "HEAD request")``,
``("preview", "Slackbot-LinkExpanding")``, ``("bot", "Googlebot")``, ``("human", None)``.
Results are memoised per user agent: the hot scan redirect asks for every request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from crawlerdetect import CrawlerDetect

# Services that unfurl a pasted link into a preview card (names as they appear in the UA).
LINK_PREVIEW_AGENTS = (
    "facebookexternalhit", "Facebot", "meta-externalagent", "Twitterbot", "Slackbot",
    "Slack-ImgProxy", "WhatsApp", "TelegramBot", "Discordbot", "LinkedInBot", "SkypeUriPreview",
    "Iframely", "Embedly", "redditbot", "Pinterestbot", "vkShare", "Mastodon",
    "Google-PageRenderer", "GoogleDocs", "MicrosoftPreview", "Bluesky", "Cardyb",
)
# (Apps whose in-app browsers carry their name, such as Snapchat or Viber, are people, not
# previews; iMessage previews announce themselves as facebookexternalhit and Twitterbot.)
_PREVIEW = re.compile("|".join(re.escape(name) for name in LINK_PREVIEW_AGENTS), re.IGNORECASE)
_detector = CrawlerDetect()

HUMAN, BOT, PREVIEW, HEAD = "human", "bot", "preview", "head"


@lru_cache(maxsize=8192)
def classify_agent(user_agent: str | None) -> tuple[str, str | None]:
    """Classify a user agent alone (GET semantics)."""
    if not user_agent or not user_agent.strip():
        return BOT, "no user agent"
    preview = _PREVIEW.search(user_agent)
    if preview:
        return PREVIEW, preview.group(0)
    if _detector.isCrawler(user_agent):
        return BOT, _detector.getMatches() or "crawler"
    return HUMAN, None


def classify(method: str, user_agent: str | None) -> tuple[str, str | None]:
    if method == "HEAD":
        _agent_class, agent_reason = classify_agent(user_agent)
        reason = "HEAD request" + (f" ({agent_reason})" if agent_reason else "")
        return HEAD, reason
    return classify_agent(user_agent)


# -- device, OS, browser ------------------------------------------------------------------------

UNKNOWN = "(unknown)"


@dataclass(frozen=True)
class Agent:
    device: str   # mobile, tablet, desktop, bot or other
    os: str       # ua-parser's OS family: iOS, Android, Windows, Mac OS X, Linux, ...
    browser: str  # ua-parser's browser family: Chrome, Mobile Safari, Firefox, ...


@lru_cache(maxsize=16384)
def parse_agent(user_agent: str | None) -> Agent:
    """Device type, OS and browser families of a user agent (memoised: few distinct agents).
    Analytics reports them; the redirect's rules match on them."""
    if not user_agent:
        return Agent(UNKNOWN, UNKNOWN, UNKNOWN)
    from ua_parser import parse

    parsed = parse(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else "Other"
    os_name = parsed.os.family if parsed.os else "Other"
    device_family = parsed.device.family if parsed.device else "Other"
    return Agent(_device_type(user_agent, device_family, os_name), os_name, browser)


def warm_up() -> None:
    """Compile the crawler and user-agent patterns (about 150 ms, which a process otherwise
    spends on its first request): in a server's master, so that every forked worker has them."""
    sample = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
    classify_agent.__wrapped__(sample)
    parse_agent.__wrapped__(sample)


def _device_type(user_agent: str, device_family: str, os_name: str) -> str:
    if device_family == "Spider":
        return "bot"
    lowered = user_agent.lower()
    if "ipad" in lowered or "tablet" in lowered or (
            "android" in lowered and "mobile" not in lowered):
        return "tablet"
    if "mobi" in lowered or "iphone" in lowered or os_name in {"iOS", "Android"}:
        return "mobile"
    if os_name in {"Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "macOS"}:
        return "desktop"
    return "other"
