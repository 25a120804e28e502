"""A font with Chinese glyphs for the charts (matplotlib's own DejaVu Sans has none).

pdca ships no font. It uses one installed on the machine, checked to hold the glyphs the
charts need, found in this order:

1. ``$PDCA_CJK_FONT``: the path of a TrueType/OpenType file or collection (.ttf, .otf,
   .ttc); an unusable path is an error, not silently skipped;
2. well-known files of free CJK fonts: on Debian and Ubuntu the package
   ``fonts-wqy-microhei`` (WenQuanYi Micro Hei, 1.6 MB, Apache-2.0 or GPL-3 with the font
   exception; what pdca's CI installs) or ``fonts-noto-cjk`` (Noto Sans CJK, OFL); the
   same fonts' places on Fedora and Arch; macOS's PingFang / Heiti; Windows' Microsoft
   YaHei / SimHei;
3. any font matplotlib knows by one of those family names.

A font qualifies only if it has a glyph for every character of :data:`PROBE`. Without
one, :class:`FontNotFound` says what to install: a chart with boxes (豆腐块) for every
Chinese character is never written.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path

from pdca.errors import PdcaError

__all__ = [
    "ENV_FONT",
    "PROBE",
    "CjkFont",
    "FontNotFound",
    "cjk_font",
    "font_chain",
    "missing_glyphs",
]

ENV_FONT = "PDCA_CJK_FONT"
#: Characters every qualifying font must have (the charts' fixed labels and common words).
PROBE = "党建考核通报汇总表单项工作考评得分率同类组平均名次等次优秀良好一般较差年度支部委员会"

#: Family names by preference (Simplified Chinese faces first).
FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "PingFang SC",
    "Heiti SC",
    "Microsoft YaHei",
    "SimHei",
    "Noto Sans SC",
    "Noto Sans CJK JP",
    "Arial Unicode MS",
)

#: Files of those fonts where the usual packages put them.
KNOWN_FILES = (
    # Debian / Ubuntu: fonts-noto-cjk, fonts-wqy-microhei, fonts-wqy-zenhei,
    # fonts-droid-fallback
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    # Fedora (google-noto-sans-cjk-fonts, wqy-microhei-fonts), Arch (noto-fonts-cjk,
    # wqy-microhei)
    "/usr/share/fonts/google-noto-sans-cjk-fonts/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
    # macOS, Windows
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)

INSTALL_HINT = (
    "install a font with Chinese glyphs: on Debian/Ubuntu `apt-get install "
    "fonts-wqy-microhei` (or fonts-noto-cjk), on Fedora `dnf install wqy-microhei-fonts`; "
    f"or set ${ENV_FONT} to the path of a .ttf/.otf/.ttc font file that has them"
)


class FontNotFound(PdcaError, LookupError):
    """No font with Chinese glyphs could be found for the charts."""


class CjkFont:
    """The chosen font: its file, the face within a collection and its family name."""

    def __init__(self, path: Path, family: str, face_index: int = 0) -> None:
        self.path = path
        self.family = family
        self.face_index = face_index

    def __repr__(self) -> str:
        return f"CjkFont({str(self.path)!r}, {self.family!r}, face {self.face_index})"

    def charmap(self) -> frozenset[int]:
        return _charmap(str(self.path), self.face_index)


@functools.cache
def _charmap(path: str, face_index: int) -> frozenset[int]:
    from matplotlib import ft2font

    font = ft2font.FT2Font(path, face_index=face_index)
    return frozenset(font.get_charmap())


def _faces(path: Path) -> list[tuple[int, str]]:
    """(face index, family name) of each face of a font file; [] if it is no font."""
    from matplotlib import ft2font

    try:
        first = ft2font.FT2Font(str(path))
    except (OSError, RuntimeError, ValueError):
        return []
    faces = [(0, first.family_name)]
    for i in range(1, getattr(first, "num_faces", 1)):
        try:
            faces.append((i, ft2font.FT2Font(str(path), face_index=i).family_name))
        except (OSError, RuntimeError, ValueError):
            continue
    return faces


def _covers(path: Path, face: int, text: str = PROBE) -> bool:
    try:
        cmap = _charmap(str(path), face)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(ord(ch) in cmap for ch in text if not ch.isspace())


def _pick_face(path: Path) -> CjkFont | None:
    """The best qualifying face of a font file (a preferred family first)."""
    faces = _faces(path)
    rank = {name: n for n, name in enumerate(FAMILIES)}
    for idx, family in sorted(faces, key=lambda f: (rank.get(f[1], len(rank)), f[0])):
        if _covers(path, idx):
            return CjkFont(path, family, idx)
    return None


def _from_env() -> CjkFont | None:
    raw = os.environ.get(ENV_FONT)
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise FontNotFound(f"${ENV_FONT}={raw!r}: no such font file")
    font = _pick_face(path)
    if font is None:
        raise FontNotFound(
            f"${ENV_FONT}={raw!r}: not a font with glyphs for Chinese (tested on {PROBE!r})"
        )
    return font


def _from_matplotlib() -> CjkFont | None:
    from matplotlib import font_manager

    entries = {e.name: e for e in font_manager.fontManager.ttflist}
    for family in FAMILIES:
        e = entries.get(family)
        if e is not None and _covers(Path(e.fname), getattr(e, "index", 0)):
            return CjkFont(Path(e.fname), family, getattr(e, "index", 0))
    return None


def _find() -> CjkFont:
    font = _from_env()
    if font is not None:
        return font
    for f in KNOWN_FILES:
        path = Path(f)
        if path.is_file():
            font = _pick_face(path)
            if font is not None:
                return font
    font = _from_matplotlib()
    if font is not None:
        return font
    raise FontNotFound("no font with Chinese glyphs found for the charts: " + INSTALL_HINT)


@functools.cache
def _cached() -> CjkFont:
    return _find()


def cjk_font(*, refresh: bool = False) -> CjkFont:
    """The font the charts use for Chinese (found once per process; ``refresh`` looks
    again, e.g. after ``$PDCA_CJK_FONT`` changed). Raises :class:`FontNotFound`."""
    if refresh:
        _cached.cache_clear()
    return _cached()


def font_chain() -> list[str]:
    """The family names to give matplotlib's ``font.family``: the CJK font first, then
    DejaVu Sans for the symbols a CJK font may lack (matplotlib falls back per glyph). The
    CJK font is registered with matplotlib's font manager on the way."""
    from matplotlib import font_manager

    font = cjk_font()
    known = {(e.fname, getattr(e, "index", 0)) for e in font_manager.fontManager.ttflist}
    if (str(font.path), font.face_index) not in known:
        font_manager.fontManager.addfont(str(font.path))
    return [font.family, "DejaVu Sans"]


def missing_glyphs(texts: Iterable[str], font: CjkFont | None = None) -> list[str]:
    """The characters of ``texts`` that neither the CJK font nor DejaVu Sans can draw
    (sorted, each once): what would come out as boxes."""
    from matplotlib import font_manager

    f = font or cjk_font()
    cjk = f.charmap()
    dejavu = _charmap(font_manager.findfont("DejaVu Sans", fallback_to_default=True), 0)
    out = {
        ch
        for text in texts
        for ch in text
        if not ch.isspace() and ord(ch) not in cjk and ord(ch) not in dejavu
    }
    return sorted(out)
