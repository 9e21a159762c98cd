"""The builder's block actions on a draft: add, change, move, duplicate, hide, delete, and
undo of the last change.

Each one is a single ``services.update_microsite(id, {"blocks": [...]})`` with the whole
list, exactly what a client of ``PATCH /api/v1/microsites/{id}`` sends, so every rule (each
block checked by its type, sizes, assets, history) is the service's and nothing is checked
twice. Undo restores the draft saved before the last change (``services.restore_version``,
as ``POST /api/v1/microsites/{id}/versions/{version}/restore`` does).
"""

from __future__ import annotations

import copy
from typing import Any

from qrp_microsites import services
from qrp_microsites.models import Microsite
from qrplatform.errors import NotFound


def _blocks(site: Microsite) -> list[dict[str, Any]]:
    return copy.deepcopy(list(site.blocks or []))


def position(site: Microsite, block_id: str) -> int:
    for index, block in enumerate(site.blocks or []):
        if block.get("id") == block_id:
            return index
    raise NotFound("No such block on this page (it may have been removed meanwhile).")


def find(site: Microsite, block_id: str) -> dict[str, Any]:
    return site.blocks[position(site, block_id)]


def _save(site: Microsite, blocks: list[dict[str, Any]]) -> Microsite:
    return services.update_microsite(site.id, {"blocks": blocks})


def add_block(site: Microsite, raw: dict[str, Any], at: int | None = None) -> Microsite:
    """Insert a new block (``{type, ...fields}``) at ``at`` (default: the end)."""
    blocks = _blocks(site)
    at = len(blocks) if at is None else max(0, min(at, len(blocks)))
    blocks.insert(at, {k: v for k, v in raw.items() if k != "id"})
    return _save(site, blocks)


def change_block(site: Microsite, block_id: str, raw: dict[str, Any]) -> Microsite:
    """Replace a block's fields (its id, type and visibility stay)."""
    blocks = _blocks(site)
    index = position(site, block_id)
    old = blocks[index]
    blocks[index] = {**{k: v for k, v in raw.items() if k not in ("id", "hidden")},
                     "id": old["id"], "type": old["type"], "hidden": old.get("hidden", False)}
    return _save(site, blocks)


def move_block(site: Microsite, block_id: str, offset: int) -> Microsite:
    """Up (-1) or down (+1); at either end nothing changes."""
    blocks = _blocks(site)
    index = position(site, block_id)
    target = index + offset
    if not 0 <= target < len(blocks) or offset == 0:
        return site
    blocks.insert(target, blocks.pop(index))
    return _save(site, blocks)


def reorder_blocks(site: Microsite, order: list[str]) -> Microsite:
    """The blocks in the order of ``order`` (their ids, as dragged); ids it leaves out keep
    their place after the others, unknown ids are ignored (a block removed meanwhile)."""
    blocks = _blocks(site)
    by_id = {b["id"]: b for b in blocks}
    seen: list[str] = []
    for block_id in order:
        if block_id in by_id and block_id not in seen:
            seen.append(block_id)
    ordered = [by_id[i] for i in seen] + [b for b in blocks if b["id"] not in seen]
    if [b["id"] for b in ordered] == [b["id"] for b in blocks]:
        return site
    return _save(site, ordered)


def duplicate_block(site: Microsite, block_id: str) -> Microsite:
    """A copy right below the block (with an id of its own)."""
    blocks = _blocks(site)
    index = position(site, block_id)
    twin = {k: v for k, v in copy.deepcopy(blocks[index]).items() if k != "id"}
    blocks.insert(index + 1, twin)
    return _save(site, blocks)


def toggle_hidden(site: Microsite, block_id: str) -> Microsite:
    """Hide a block from the published page (it stays in the draft), or show it again."""
    blocks = _blocks(site)
    index = position(site, block_id)
    blocks[index]["hidden"] = not blocks[index].get("hidden", False)
    return _save(site, blocks)


def delete_block(site: Microsite, block_id: str) -> Microsite:
    blocks = _blocks(site)
    blocks.pop(position(site, block_id))
    return _save(site, blocks)


def undo_target(microsite_id: int):
    """The draft as it was before its last change (a saved draft version), or None."""
    drafts = [v for v in services.list_versions(microsite_id) if v.kind == "draft"]
    return drafts[1] if len(drafts) > 1 else None


def undo(site: Microsite) -> Microsite | None:
    """Bring back the draft as it was before the last change; None when there is nothing to
    undo. (Undoing twice brings the change back: the undo is a change too.)"""
    target = undo_target(site.id)
    if target is None:
        return None
    return services.restore_version(site.id, target.id)
