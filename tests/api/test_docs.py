"""docs/api.md keeps up with the schema (#19): every endpoint is in its tables, and every
choice field of the schema has its values in "Choice fields" — so a script writer never
has to guess a value such as ``owner_type``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def schema(client: Client) -> dict[str, Any]:
    data: dict[str, Any] = client.get("/api/v1/schema/?format=json").json()
    return data


def enums(document: dict[str, Any]) -> dict[str, set[str]]:
    """Field or parameter name → every value any of its enums allows."""
    components = document["components"]["schemas"]
    found: dict[str, set[str]] = {}

    def values(node: dict[str, Any]) -> list[str]:
        if "$ref" in node:
            node = components[node["$ref"].rsplit("/", 1)[1]]
        if "enum" in node:
            return [str(v) for v in node["enum"] if v is not None]
        return [v for part in node.get("allOf", []) + node.get("oneOf", [])
                for v in values(part)]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                found.setdefault(name, set()).update(values(prop))
                items = prop.get("items")
                if isinstance(items, dict):
                    found[name].update(values(items))
            for parameter in node.get("parameters") or []:
                if isinstance(parameter, dict) and "schema" in parameter:
                    found.setdefault(parameter["name"], set()).update(
                        values(parameter["schema"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return {name: vals for name, vals in found.items() if vals}


def choice_rows() -> list[tuple[str, set[str]]]:
    """(field, documented values) per row; a row may name several fields."""
    section = DOC.read_text().split("## Choice fields", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            documented = set(re.findall(r"`([^`]*)`", cells[2]))
            rows += [(name, documented) for name in re.findall(r"`([^`]+)`", cells[0])]
    return rows


def test_every_choice_field_is_documented_with_its_values(client: Client) -> None:
    rows = choice_rows()
    missing = []
    for name, values in sorted(enums(schema(client)).items()):
        documented = set().union(*(vals for field, vals in rows if field == name))
        if not documented:
            missing.append(f"{name}: not in “Choice fields”")
        elif values - documented - {""}:
            missing.append(f"{name}: {sorted(values - documented)}")
    assert not missing, "docs/api.md “Choice fields” lacks:\n" + "\n".join(missing)


def test_every_endpoint_is_documented(client: Client) -> None:
    text = DOC.read_text()
    documented = set()
    for line in text.splitlines():
        # "`groups/<id>/members/`, `…/members/<subscriber_id>/`": the ellipsis continues
        # the first path of the line.
        paths = re.findall(r"`((?:…/)?[a-z<][a-z0-9_/<>.-]*/)`", line)
        base = next((p for p in paths if not p.startswith("…")), "")
        for path in paths:
            if path.startswith("…/"):
                rest = path[2:]
                head = rest.split("/", 1)[0]
                cut = -1 if head.startswith("<") else base.find(f"/{head}/")
                path = (base[:cut + 1] if cut >= 0 else base) + rest
            documented.add(re.sub(r"<[^>]+>", "{}", path))
    missing = []
    for template in schema(client)["paths"]:
        path = re.sub(r"\{[^}]+\}", "{}", template.removeprefix("/api/v1/"))
        short = path.removeprefix("tenants/{}/")
        if path not in documented and short not in documented:
            missing.append(template)
    assert not missing, "docs/api.md does not name:\n" + "\n".join(missing)
