"""Sample years, one per source article, runnable end to end with ``pdca demo --sample``."""

from __future__ import annotations

from collections.abc import Callable

from pdca.clock import FixedClock
from pdca.services.store import Store

from . import bilahe, changping, grassroots, xiangtan, zhangzhou
from ._common import SampleRun

__all__ = ["SAMPLES", "SampleRun", "run_sample"]

Runner = Callable[[Store, FixedClock, int], SampleRun]

#: name → (seed article, runner)
SAMPLES: dict[str, tuple[str, Runner]] = {
    xiangtan.NAME: (xiangtan.ARTICLE, xiangtan.run),
    zhangzhou.NAME: (zhangzhou.ARTICLE, zhangzhou.run),
    grassroots.NAME: (grassroots.ARTICLE, grassroots.run),
    bilahe.NAME: (bilahe.ARTICLE, bilahe.run),
    changping.NAME: (changping.ARTICLE, changping.run),
}


def run_sample(name: str, store: Store, clock: FixedClock, year: int) -> SampleRun:
    """Run sample ``name`` for ``year`` on an empty store that uses ``clock``."""
    if name not in SAMPLES:
        from pdca.errors import ValidationError

        raise ValidationError("sample", name, "must be one of " + ", ".join(sorted(SAMPLES)))
    return SAMPLES[name][1](store, clock, year)
