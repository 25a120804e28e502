"""One hammer process (tests/test_hammer.py): ``ops`` operations on shared cycles, each in
its own unit of work, writing one JSON line per operation to ``out``.

    python hammer_worker.py URL WORKER OPS SEED OUT LOOP_ORGS SCORE_ORGS

An operation is a transition of one of the LOOP_ORGS cycles (checking → acting → closed →
checking again, round and round: act, close, reopen) or a score entry on any cycle (two
shared assessors, so writers collide on the same score rows too). Outcomes: ``ok``,
``conflict`` (ConcurrencyConflict), ``refused`` (any other pdca error) or ``raw`` (anything
else reaching the caller: must never happen).
"""

from __future__ import annotations

import json
import random
import sys
import time

import pendulum

import pdca

NEXT = {"checking": "act", "acting": "close", "closed": "reopen"}


def main() -> None:
    url, worker, ops, seed, out = sys.argv[1:6]
    loop_orgs = sys.argv[6].split(",")
    score_orgs = sys.argv[7].split(",")
    rng = random.Random(int(seed))
    clock = pdca.FixedClock(pendulum.datetime(2025, 12, 1, 9, tz="Asia/Shanghai"))
    store = pdca.open_store(url, clock=clock)
    office = pdca.Actor(f"考核办{worker}", org="JG", role="assessor")
    with open(out, "w", encoding="utf-8") as fh:
        for i in range(int(ops)):
            rec: dict[str, object] = {"worker": int(worker), "i": i}
            t0 = time.perf_counter()
            try:
                with store.unit_of_work(office) as u:
                    if rng.random() < 0.5:
                        org = rng.choice(loop_orgs)
                        # Held until the transition: it is the object the transition
                        # moves (the identity map is weak), so a change committed by
                        # another writer in between is a stale version, not a fresh read.
                        seen = u.cycle(org, "2025")
                        state = seen.state
                        event = NEXT[state]
                        rec.update(op="transition", org=org, event=event, from_state=state)
                        cyc = u.advance(
                            org,
                            "2025",
                            event,
                            reason=f"w{worker}#{i}" if event == "reopen" else None,
                        )
                        assert cyc is seen
                        rec["to_state"] = cyc.state
                    else:
                        org = rng.choice(score_orgs + loop_orgs)
                        assessor = rng.choice(["甲", "乙"])
                        item, cap = rng.choice([("P1", 60), ("P2", 40)])
                        value = rng.randint(0, cap)
                        rec.update(op="score", org=org, item=item, assessor=assessor, value=value)
                        s = u.enter_score(
                            org, "2025", item, "year-end", "panel", value, assessor=assessor
                        )
                        rec["score_id"] = s.id
                rec["outcome"] = "ok"
            except pdca.ConcurrencyConflict as e:
                rec.update(outcome="conflict", error=str(e)[:200])
            except pdca.PdcaError as e:
                rec.update(outcome="refused", error=f"{type(e).__name__}: {str(e)[:200]}")
            except Exception as e:
                rec.update(
                    outcome="raw", error=f"{type(e).__module__}.{type(e).__name__}: {e}"[:500]
                )
            rec["ms"] = (time.perf_counter() - t0) * 1000
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    store.close()


if __name__ == "__main__":
    main()
