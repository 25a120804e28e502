"""Sample years, one per source article, runnable end to end with ``pdca demo --sample``."""

from __future__ import annotations

from collections.abc import Callable

from pdca.clock import FixedClock
from pdca.services.store import Store

from . import bilahe, changping, grassroots, xiangtan, zhangzhou
from ._common import ROLL_OVER, SampleRun

__all__ = ["SAMPLES", "SampleRun", "run_sample"]

#: Samples that close their own cycles during the year (quarterly), so always roll over.
ROLLS_ITSELF = frozenset({"changping"})

Runner = Callable[[Store, FixedClock, int], SampleRun]

#: name → (seed article, runner)
SAMPLES: dict[str, tuple[str, Runner]] = {
    xiangtan.NAME: (xiangtan.ARTICLE, xiangtan.run),
    zhangzhou.NAME: (zhangzhou.ARTICLE, zhangzhou.run),
    grassroots.NAME: (grassroots.ARTICLE, grassroots.run),
    bilahe.NAME: (bilahe.ARTICLE, bilahe.run),
    changping.NAME: (changping.ARTICLE, changping.run),
}


def run_sample(
    name: str, store: Store, clock: FixedClock, year: int, *, rollover: bool = True
) -> SampleRun:
    """Run sample ``name`` for ``year`` on an empty store that uses ``clock``.

    With ``rollover=False`` the year is left in ``acting`` with next year's scheme issued,
    for ``pdca rollover`` to close and open (not for ``changping``, whose quarters close as
    the year goes).
    """
    from pdca.errors import ValidationError

    if name not in SAMPLES:
        raise ValidationError("sample", name, "must be one of " + ", ".join(sorted(SAMPLES)))
    if not rollover and name in ROLLS_ITSELF:
        raise ValidationError(
            "sample", name, "closes its quarters as the year goes; run it with its rollover"
        )
    token = ROLL_OVER.set(rollover)
    try:
        return SAMPLES[name][1](store, clock, year)
    finally:
        ROLL_OVER.reset(token)
