"""Every user-facing text has its Russian translation, and the compiled catalogue is current."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

RU = ROOT / "locale" / "ru" / "LC_MESSAGES"


def _msgattrib(*flags: str) -> str:
    command = [
        shutil.which("msgattrib") or "msgattrib",
        "--no-obsolete",
        *flags,
        str(RU / "django.po"),
    ]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def _msgids(po_text: str) -> list[str]:
    return [
        line for line in po_text.splitlines() if line.startswith("msgid ") and line != 'msgid ""'
    ]


@pytest.mark.skipif(shutil.which("msgattrib") is None, reason="GNU gettext is not installed")
def test_no_russian_text_is_missing_or_fuzzy():
    assert _msgids(_msgattrib("--untranslated")) == []
    fuzzy = _msgattrib("--only-fuzzy")
    assert _msgids(fuzzy) == [], fuzzy


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext is not installed")
def test_the_compiled_russian_catalogue_matches_its_source(tmp_path: Path):
    compiled = tmp_path / "django.mo"
    subprocess.run([shutil.which("msgfmt"), "-o", str(compiled), str(RU / "django.po")], check=True)
    assert compiled.read_bytes() == (RU / "django.mo").read_bytes()
