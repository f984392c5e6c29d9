"""The pages' dictionaries: the same keys in both languages, no English in the Chinese one
(apart from names such as JPEG/PNG, CSV/Excel, OpenStreetMap and the Esc key), and every key
the field inbox and the dispatch panel ask for present."""

from __future__ import annotations

import json
import re

from gridsvc.settings import PROJECT_ROOT

I18N = PROJECT_ROOT / "gridsvc" / "static" / "i18n"
FORMAT_NAMES = re.compile(r"\b(JPEG|PNG|WebP|CSV|Excel|OpenStreetMap|Esc)\b")


def load(lang: str) -> dict[str, str]:
    return dict(json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8")))


def test_both_languages_have_the_same_keys():
    zh, en = load("zh-CN"), load("en")
    assert sorted(set(zh) ^ set(en)) == []


def test_no_english_words_in_the_chinese_dictionary():
    english = {
        key: text
        for key, text in load("zh-CN").items()
        if re.search(r"[A-Za-z]{3,}", FORMAT_NAMES.sub("", re.sub(r"\{[a-z_]+\}", "", text)))
    }
    assert english == {}


def test_keys_asked_for_by_the_workload_and_patrol_scripts_exist():
    zh = load("zh-CN")
    scripts = [
        PROJECT_ROOT / "gridsvc" / "static" / "inbox" / "field.js",
        PROJECT_ROOT / "gridsvc" / "static" / "ops" / "panel.js",
    ]
    asked = set()
    for script in scripts:
        asked |= set(re.findall(r"""T\(["']((?:patrol|status|why|squad)\.[a-z_]+)["']""", script.read_text()))
    for code in ("local", "local_blocked", "no_local", "none", "none_local"):
        asked.add(f"why.{code}")
    for status in ("available", "busy", "off_duty", "offline"):
        asked.add(f"squad.{status}")
    assert sorted(k for k in asked if k not in zh) == []
    assert {zh["squad.available"], zh["squad.busy"], zh["squad.off_duty"], zh["squad.offline"]} == {
        "在岗",
        "忙碌",
        "休息",
        "离线",
    }


def test_no_chinese_in_the_english_dictionary():
    chinese = {key: text for key, text in load("en").items() if re.search(r"[\u4e00-\u9fff]", text)}
    assert chinese == {}


def test_every_routing_rule_and_system_note_has_its_sentence():
    """The panel writes routing reasons and the system's audit lines (stored in Chinese) in
    the page's language from why.code/params and data.say (gridsvc/static/ops/panel.js)."""
    source = (PROJECT_ROOT / "gridsvc" / "routing" / "service.py").read_text(encoding="utf-8")
    rules = {"no_location", "outside_grids", "unknown_matter", "no_community_grid", "grid_level"}
    rules |= {"delegated", "territorial_fallback", "no_owner", "not_delegated"}
    assert all(f'"{rule}",' in source for rule in rules)  # still the rules the router writes
    says = set()
    for path in (PROJECT_ROOT / "gridsvc").rglob("*.py"):
        says |= set(re.findall(r'"say": \{"code": "([a-z_]+)"', path.read_text(encoding="utf-8")))
    assert says >= {"auto_merged", "whistle"}
    says.add("auto_dispatch")  # panel.js: a dispatch by the system
    for lang in ("zh-CN", "en"):
        words = load(lang)
        assert sorted(f"route.{r}" for r in rules if f"route.{r}" not in words) == []
        assert sorted(f"trail.{s}" for s in says if f"trail.{s}" not in words) == []
