"""The CLI's messages in English and Chinese, chosen by the user's locale.

``LC_ALL``, then ``LC_MESSAGES``, then ``LANG`` (the first one set, as POSIX reads them):
a locale starting with ``zh`` (``zh_CN.UTF-8``, ``zh_TW``, ``zh``) gets Chinese, anything
else English. Only the CLI's own words are translated (headers, summaries, the error
prefix); data (names, codes, the rule a refusal names) is printed as stored, and ``--json``
keys are always English.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["MESSAGES", "is_chinese", "locale_name", "t"]


def locale_name(environ: Mapping[str, str] | None = None) -> str:
    """The locale messages follow: the first of LC_ALL, LC_MESSAGES, LANG that is set."""
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var)
        if value:
            return value
    return ""


def is_chinese(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the user's locale is Chinese."""
    return locale_name(environ).lower().startswith("zh")


#: key → (English, Chinese); ``{name}`` fields are filled by :func:`t`.
MESSAGES: dict[str, tuple[str, str]] = {
    # errors
    "error": ("pdca: error: {message}", "pdca：错误：{message}"),
    "usage_error": ("pdca: bad usage: {message}", "pdca：用法错误：{message}"),
    "aborted": ("pdca: aborted", "pdca：已中止"),
    # db / scheme / score
    "db_moved": ("{url}: {before} → {after}", "{url}：{before} → {after}"),
    "db_empty": ("(empty)", "（空）"),
    "db_at": ("{url}: {revision}{head}", "{url}：{revision}{head}"),
    "db_head": (" (head)", "（最新）"),
    "db_not_head": (" (not at head)", "（不是最新）"),
    "scheme_valid": (
        "{file}: valid scheme {code} ({title}), {items} items",
        "{file}：方案 {code}（{title}）有效，共 {items} 项",
    ),
    "scheme_imported": (
        "imported scheme {code} ({title}, {period}): {items} items",
        "已导入方案 {code}（{title}，{period}）：{items} 项",
    ),
    "scheme_exported": ("wrote scheme {code} to {out}", "已将方案 {code} 写入 {out}"),
    "scores_imported": (
        "{file}: {rows} rows, {entered} scores entered, {replaced} replaced",
        "{file}：{rows} 行，录入评分 {entered} 条，替换 {replaced} 条",
    ),
    # organizations
    "orgs_imported": (
        "{file}: {rows} rows, {added} organizations added, {unchanged} unchanged",
        "{file}：{rows} 行，新增党组织 {added} 个，未变 {unchanged} 个",
    ),
    "orgs_none": ("no organizations", "没有党组织"),
    "orgs_title": ("Organizations", "党组织"),
    "col_code": ("code", "代码"),
    "col_name": ("name", "名称"),
    "col_kind": ("kind", "类型"),
    "col_parent": ("parent", "上级"),
    "col_peer_group": ("peer group", "同类组"),
    "col_org": ("organization", "党组织"),
    "col_from": ("from", "原状态"),
    "col_state": ("state", "现状态"),
    "col_outcome": ("outcome", "结果"),
    "col_reason": ("why", "原因"),
    "orgs_count": ("{n} organizations", "共 {n} 个党组织"),
    # cycles
    "cycle_opened": ("opened", "已开启"),
    "cycle_exists": ("exists", "已存在"),
    "cycle_refused": ("refused", "被拒绝"),
    "cycle_skipped": ("not in the scope", "不在考核范围"),
    "cycle_moved": ("moved", "已推进"),
    "cycle_already": ("already there", "已到达"),
    "cycle_beyond": ("beyond", "已超过"),
    "cycles_open_title": ("Open cycles {period}", "开启 {period} 年度循环"),
    "cycles_open_summary": (
        "{opened} opened, {existing} already open, {refused} refused",
        "开启 {opened} 个，已存在 {existing} 个，被拒绝 {refused} 个",
    ),
    "cycles_advance_title": ("Advance cycles {period} to {to}", "推进 {period} 年度循环至 {to}"),
    "cycles_advance_summary": (
        "{moved} moved, {already} already there, {refused} refused",
        "推进 {moved} 个，已到达 {already} 个，被拒绝 {refused} 个",
    ),
    "cycles_none": ("no cycles for {period}", "{period} 没有循环"),
    # findings
    "findings_imported": (
        "{file}: {rows} rows, {added} findings recorded",
        "{file}：{rows} 行，记录问题 {added} 个",
    ),
    # act
    "rectification_added": (
        "finding #{finding} ({state}): rectification #{id} {title} — {owner}, due {due}",
        "问题 #{finding}（{state}）：整改措施 #{id} {title}，责任人 {owner}，期限 {due}",
    ),
    "rectification_done": (
        "rectification #{id} done on {done}; finding #{finding} has {left} measure(s) still open",
        "整改措施 #{id} 已于 {done} 完成；问题 #{finding} 还有 {left} 项措施未完成",
    ),
    "finding_resolved": (
        "finding #{id}: {state} ({resolution})",
        "问题 #{id}：{state}（{resolution}）",
    ),
    "appeal_filed": (
        "appeal #{id} filed by {org} against {what}",
        "{org} 已就{what}提出申辩 #{id}",
    ),
    "appeal_score": ("score #{id}", "评分 #{id} "),
    "appeal_finding": ("finding #{id}", "问题 #{id} "),
    "appeal_decided": ("appeal #{id}: {state}", "申辩 #{id}：{state}"),
    "appeal_revised": ("; score revised {old} → {new}", "；评分改为 {old} → {new}"),
    "appeal_republished": (
        "; results republished as version {version}",
        "；结果重新公示为第 {version} 版",
    ),
    "published": (
        "published the results of {scheme} for {period} (version {version}, {n} organizations)",
        "已公示方案 {scheme} {period} 的考核结果（第 {version} 版，{n} 个党组织）",
    ),
    # audit
    "audit_intact": (
        "the event trail is intact: {events} events, {entities} cycles, findings and appeals "
        "checked",
        "事件记录完整：检查事件 {events} 条，循环、问题和申辩 {entities} 个",
    ),
    "audit_broken": (
        "the event trail has {n} problem(s):",
        "事件记录有 {n} 个问题：",
    ),
    "audit_more": ("… and {n} more", "……另有 {n} 个"),
    "audit_head": (
        "chain head: {seq}:{hash} (record it; check against it with --anchor)",
        "哈希链末端：{seq}:{hash}（请另行留存，日后用 --anchor 核对）",
    ),
}


def t(key: str, /, **fields: object) -> str:
    """The message ``key`` in the user's language, with ``fields`` filled in."""
    en, zh = MESSAGES[key]
    return (zh if is_chinese() else en).format(**fields)
