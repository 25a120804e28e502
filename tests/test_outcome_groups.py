"""An outcome rule limited to some peer groups (004: top 3 branches; 2:7:1 departments)."""

from __future__ import annotations

from decimal import Decimal

import pytest

import pdca
from pdca.domain.scoring import Ranked, evaluate_outcomes


def spec(outcomes: list[dict[str, object]]) -> pdca.SchemeSpec:
    return pdca.parse_scheme(
        {
            "code": "S",
            "title": "t",
            "period": "2025",
            "issuer": "JG",
            "categories": [
                {"code": "C", "name": "c", "items": [{"code": "I", "title": "i", "max_score": 100}]}
            ],
            "outcomes": outcomes,
        }
    )


ROWS = [
    Ranked("B1", "支部", Decimal(90), 1, False),
    Ranked("B2", "支部", Decimal(80), 2, False),
    Ranked("D1", "部门", Decimal(95), 1, False),
    Ranked("D2", "部门", Decimal(70), 2, False),
]


def test_a_rule_limited_to_a_peer_group_leaves_the_others_alone() -> None:
    s = spec(
        [
            {"kind": "top_n", "label": "红旗支部", "n": 1, "peer_groups": ["支部"]},
            {
                "kind": "forced_distribution",
                "label": "薪酬",
                "ratios": [1, 1],
                "labels": ["上", "下"],
                "factors": [1.2, 0.8],
                "peer_groups": ["部门"],
            },
        ]
    )
    out = evaluate_outcomes(s, ROWS, {r.key: None for r in ROWS})
    assert out["B1"] == [{"kind": "top_n", "label": "红旗支部"}]
    assert out["B2"] == []
    assert out["D1"] == [
        {"kind": "forced_distribution", "label": "薪酬", "band": "上", "factor": "1.2"}
    ]
    assert out["D2"] == [
        {"kind": "forced_distribution", "label": "薪酬", "band": "下", "factor": "0.8"}
    ]
    # It survives a round trip through the scheme file format.
    assert pdca.parse_scheme(pdca.scheme_to_data(s)) == s


def test_peer_groups_must_name_something() -> None:
    with pytest.raises(pdca.SchemeInvalid, match=r"name at least one peer group"):
        spec([{"kind": "top_n", "label": "x", "n": 1, "peer_groups": []}])
