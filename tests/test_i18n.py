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
