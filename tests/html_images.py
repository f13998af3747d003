"""Find the charts a saved snapshot carries inside its HTML (`<img>` with a data URI)."""

from __future__ import annotations

import base64
import re

_IMG = re.compile(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def html_pngs(html: str) -> list[bytes]:
    """The PNG images embedded in `html` as data URIs, decoded (each checked to be a PNG)."""
    pngs = [base64.b64decode(data) for data in _IMG.findall(html)]
    for png in pngs:
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), png[:16]
    return pngs
