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
