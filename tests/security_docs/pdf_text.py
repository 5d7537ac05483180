"""Just enough of a PDF text extractor to read back what fpdf2 writes (no extra dependency).

fpdf2 embeds TrueType subsets with Identity-H encoding and a ToUnicode map per font; text is shown
with `(...) Tj` in (usually deflated) page streams. This follows exactly that shape: fonts named in
the page resources, their ToUnicode maps, and the strings each `Tj` shows, one line per `Tj`.
"""

from __future__ import annotations

import re
import zlib

_OBJECT = re.compile(rb"(\d+) 0 obj\s*(.*?)endobj", re.S)
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_TOKEN = re.compile(rb"/(F\d+)\s+[\d.]+\s+Tf|\((?P<text>(?:\\.|[^\\)])*)\)\s*Tj", re.S)
_PAGE = re.compile(rb"/Type /Page(?!s)\b")
_BLOCK = re.compile(rb"begin(bfchar|bfrange)(.*?)end\1", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def pdf_text(data: bytes) -> str:
    objects = {int(number): body for number, body in _OBJECT.findall(data)}
    lines: list[str] = []
    for body in objects.values():
        if not _PAGE.search(body):
            continue
        resources = objects[_ref(body, b"Resources")]
        fonts = {
            name.decode(): _to_unicode(objects, _ref(objects[int(ref)], b"ToUnicode"))
            for name, ref in re.findall(rb"/(F\d+) (\d+) 0 R", resources)
        }
        font: dict[int, str] = {}
        for match in _TOKEN.finditer(_stream(objects[_ref(body, b"Contents")])):
            if match.group(1):
                font = fonts[match.group(1).decode()]
                continue
            raw = _unescape(match.group("text"))
            codes = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw) - 1, 2)]
            lines.append("".join(font.get(code, "\ufffd") for code in codes))
    return "\n".join(lines)


def _ref(body: bytes, key: bytes) -> int:
    return int(re.search(rb"/" + key + rb" (\d+) 0 R", body).group(1))


def _stream(body: bytes) -> bytes:
    # The stream's /Length, not the `endstream` keyword, says where it ends: deflated data may
    # itself end in a carriage return, which the pattern's optional "\r" would swallow.
    match = _STREAM.search(body)
    length = re.search(rb"/Length (\d+)\b", body[: match.start()])
    raw = body[match.start(1) : match.start(1) + int(length.group(1))] if length else match.group(1)
    return zlib.decompress(raw) if b"/FlateDecode" in body else raw


def _to_unicode(objects: dict[int, bytes], number: int) -> dict[int, str]:
    mapping: dict[int, str] = {}
    for kind, block in _BLOCK.findall(_stream(objects[number])):
        values = [int(value, 16) for value in re.findall(rb"<([0-9A-Fa-f]+)>", block)]
        if kind == b"bfchar":
            for code, target in zip(values[::2], values[1::2], strict=True):
                mapping[code] = chr(target)
        else:
            for start, end, first in zip(values[::3], values[1::3], values[2::3], strict=True):
                for offset in range(end - start + 1):
                    mapping[start + offset] = chr(first + offset)
    return mapping


def _unescape(text: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(text):
        char = text[i : i + 1]
        if char != b"\\":
            out += char
            i += 1
            continue
        following = text[i + 1 : i + 2]
        octal = re.match(rb"[0-7]{1,3}", text[i + 1 : i + 4])
        if octal:
            out.append(int(octal.group(0), 8) & 0xFF)
            i += 1 + len(octal.group(0))
        else:
            out += _ESCAPES.get(following, following)
            i += 2
    return bytes(out)
