"""Upload: a list of the files dropped, each checked (kind, header mapping, preview, problems) and imported, with
every message kept until it is removed from the list; the files the folder watcher rejected; history and retract."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import streamlit as st

from relief_live import auth, ingest, schema, state, ui
from relief_live.alerts import board
from relief_live.i18n import column_label, plain, t, vocab
from relief_live.store import describe_failure

lang = state.lang()
st.title(t("page_upload", lang))
store = ui.store()
allowed = auth.may_write()
batches = store.batches()

LIST = "upload_list"  # session state: file id -> Upload, in the order dropped
DROPPED = "upload_dropped"  # session state: how many times files were dropped (the chooser's key, emptied each time)
NUMBERED = "upload_numbered"  # session state: how many files were listed (each file's widget keys)
FIELDS = {"session_id": "sid", "host_kind": "hk", "platform": "pf"}  # a field asked for -> its widget's key prefix


@dataclass
class Upload:
    """One dropped file: its bytes, its last check, its import, and every message about it."""

    name: str
    data: bytes
    digest: str  # its place in the list: the same content dropped again is the same file
    number: int  # its widgets' keys: never reused while the browser's session lasts
    messages: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (st call, i18n key, fields)
    result: ingest.FileResult | None = None
    refused: bool = False  # the import found problems the check had not (the store changed meanwhile)
    checked: dict[tuple[Any, ...], ingest.Inspection] = field(default_factory=dict)  # by (fields given, store version)

    def inspect(self, supplied: dict[str, str | None], version: int) -> ingest.Inspection:
        """The file checked with the fields given, once per store version (a check reads the whole file)."""
        key = (*supplied.values(), version)
        if key not in self.checked:
            self.checked = {k: v for k, v in self.checked.items() if k[-1] == version}  # the bare one, the filled one
            self.checked[key] = ingest.inspect_bytes(self.name, self.data, store=store,
                                                     max_bytes=ingest.MAX_UPLOAD_BYTES, **supplied)
        return self.checked[key]

    def say(self, level: str, key: str, **fields: Any) -> None:
        self.messages.append((level, key, {"name": plain(self.name), **fields}))


@dataclass
class Row:
    """An upload as this run shows it: the fields it asks for, the values given, its check and its state."""

    upload: Upload
    needs: set[str]
    supplied: dict[str, str | None]
    inspection: ingest.Inspection | None
    state: str  # checked | needs | rejected | imported


def _given(upload: Upload, needs: set[str]) -> dict[str, str | None]:
    """The values given for the fields a file asks for, as its widgets last held them (read before they are drawn,
    so that "import all" above the list imports each file with its own)."""
    return {name: (st.session_state.get(f"{prefix}_{upload.number}") or None) if name in needs else None
            for name, prefix in FIELDS.items()}


def _row(upload: Upload, version: int) -> Row:
    if upload.result is not None:
        return Row(upload, set(), {}, None, "imported")
    none = dict.fromkeys(FIELDS)
    first = upload.inspect(none, version)
    supplied = _given(upload, first.needs)
    inspection = upload.inspect(supplied, version) if any(supplied.values()) else first
    if upload.refused or (inspection.problems and not all(p.column in first.needs for p in inspection.problems)):
        status = "rejected"
    elif inspection.problems:  # only the columns the form asks for are missing
        status = "needs"
    else:
        status = "checked" if inspection.ok else "rejected"
    return Row(upload, first.needs, supplied, inspection, status)


def _import(row: Row, demo: list[int]) -> None:
    """Import one checked file, first clearing the demo when staff chose that; the outcome is said on the file."""
    upload = row.upload
    if demo and st.session_state.get("demo_choice") == "clear":
        ui.clear_demo(demo)
        upload.say("info", "demo_cleared_first", n=len(demo))
        demo.clear()
    try:
        result = ingest.ingest_bytes(store, upload.name, upload.data, by=auth.who(), **row.supplied)
    except ingest.Rejected as rejected:
        upload.refused = True
        for problem in rejected.problems:
            # The file's name is said once, first; the problem is said in the page's language when it is shown.
            upload.say("error", "upload_failed", error=problem)
    except Exception as error:  # the store's (a full disk, a lock held too long): said, not a traceback
        if not ingest.store_failure(error):
            raise
        upload.say("error", "upload_failed", error=plain(describe_failure(store, error, lang)))
    else:
        upload.result = result
        for each in (result, *result.also):  # a live workbook: its session, then its product totals
            upload.say("success", "committed" if each.status == "ingested" else "unchanged",
                       rows=f"{each.rows:,}", batch=each.batch)
        if result.sessionless:
            upload.say("info", "upload_placed", n=f"{result.sessionless:,}", placed=f"{result.placed:,}")


def _stored() -> None:
    """After an import or a retraction: the alerts evaluated on the store as it now is (recorded, and sent
    where a channel is configured), then the page again, its bell counting them."""
    ui.report()  # (the first report of a server is built here: under its spinner, not behind a still button)
    board.evaluate()
    st.rerun()


def _said(fields: dict[str, Any]) -> dict[str, Any]:
    """A message's fields as this run shows them: a problem in the page's language, as plain text."""
    return {name: plain(value.located(lang, file=False)) if isinstance(value, ingest.Problem) else value
            for name, value in fields.items()}


def _session_labels(version: int) -> dict[str, str]:
    """Stored sessions, newest first, as the picker shows them: title · host · start."""
    def build() -> dict[str, str]:
        sessions = store.read("sessions").sort("started_at", descending=True, nulls_last=True)
        return {row["session_id"]: f"{row['title'] or row['session_id']} · {row['host_name'] or ui.MISSING} · "
                                   f"{ui.local_time(row['started_at'])}"
                for row in sessions.iter_rows(named=True)}
    return ui.shared(("upload_sessions", version), build)


def _ask(row: Row, version: int) -> None:
    """The fields the file lacks: a stored session for minute trends and for order lines that give neither session
    nor host account (a shop's export finds its sessions itself), a host kind, a platform."""
    number, kind = row.upload.number, row.inspection.kind if row.inspection else None
    st.caption(t("needs_fields", lang))
    cols = st.columns(3)
    if "session_id" in row.needs:
        if kind in ("ticks", "sales"):
            labels = _session_labels(version)
            if labels:
                cols[0].selectbox(t("pick_session_for" if kind == "ticks" else "pick_session_optional", lang),
                                  list(labels), index=None, key=f"sid_{number}", format_func=labels.__getitem__,
                                  placeholder=t("pick_session_placeholder", lang))
            else:
                cols[0].info(t("no_session_to_pick", lang))
        else:  # a sessions file: the id of a new session
            cols[0].text_input(t("session_id", lang), key=f"sid_{number}")
    if "host_kind" in row.needs:
        cols[1].selectbox(t("host_kind", lang), ["broadcast", "cadre"], index=None, key=f"hk_{number}",
                          format_func=lambda k: vocab("hk", k, lang))
    if "platform" in row.needs:
        cols[2].selectbox(t("platform", lang), sorted(set(schema.PLATFORMS.values())), index=None,
                          key=f"pf_{number}", format_func=lambda k: vocab("pf", k, lang))


def _checked(row: Row) -> None:
    """What the check found: the kind, how each header maps (and the alias a misspelt one likely means), then the
    problems or a preview."""
    inspection, number = row.inspection, row.upload.number
    assert inspection is not None
    st.markdown(t("detected_kind", lang, kind=vocab("kind", inspection.kind, lang))
                if inspection.kind else f"**{t('kind_unknown', lang)}**")
    if inspection.placement and inspection.placement[0] and row.state == "checked":  # instead of a session picker
        lines, placed = inspection.placement
        st.info(t("upload_will_place", lang, n=f"{lines:,}", placed=f"{placed:,}", rest=f"{lines - placed:,}"),
                icon=":material/link:")
    if inspection.mapping:
        with st.expander(t("mapping", lang), expanded=False):
            mapping = pl.DataFrame({
                t("source_header", lang): [source for source, _ in inspection.mapping],
                t("canonical", lang): [column_label(canonical, lang) if canonical else "—" for _, canonical in inspection.mapping],
            })
            st.dataframe(mapping, hide_index=True)
        if inspection.unknown:
            st.caption(t("unknown_headers", lang, headers=plain(", ".join(inspection.unknown))))
            mapped = {canonical for _, canonical in inspection.mapping}
            for header, alias in schema.near_misses(inspection.kind, inspection.unknown, mapped).items():
                st.warning(t("did_you_mean", lang, header=plain(header), alias=plain(alias)),
                           icon=":material/spellcheck:")
    if inspection.problems and row.state == "rejected":
        st.error(t("problems", lang), icon=":material/error:")
        problems = pl.DataFrame({
            t("problem_line", lang): [p.line for p in inspection.problems],
            t("problem_column", lang): [p.column_text(lang) for p in inspection.problems],
            t("problem_value", lang): [p.value for p in inspection.problems],
            t("problem_message", lang): [p.text(lang) for p in inspection.problems],
        }, schema_overrides={t("problem_line", lang): pl.Int64})
        st.dataframe(problems, hide_index=True, key=f"problems_{number}")
    elif inspection.frame is not None:
        frame = inspection.frame
        st.caption(t("preview", lang, rows=f"{frame.height:,}"))
        st.dataframe(ui.preview(inspection.kind, frame.head(50), lang), hide_index=True, height=220,
                     placeholder=ui.MISSING, key=f"preview_{number}")


_BADGES = {"checked": ("blue", ":material/fact_check:"), "needs": ("orange", ":material/edit_note:"),
           "rejected": ("red", ":material/block:"), "imported": ("green", ":material/check_circle:")}


def _show(row: Row, version: int, blocked: bool, demo: list[int]) -> None:
    upload = row.upload
    with st.container(border=True):
        head = st.columns([5, 1], vertical_alignment="center")
        head[0].subheader(plain(upload.name))
        colour, icon = _BADGES[row.state]
        head[0].badge(t(f"upload_state_{row.state}", lang), color=colour, icon=icon)  # type: ignore[arg-type]
        if head[1].button(t("upload_dismiss", lang), key=f"dismiss_{upload.number}", icon=":material/close:"):
            del st.session_state[LIST][upload.digest]
            st.rerun()
        for level, key, fields in upload.messages:
            getattr(st, level)(t(key, lang, **_said(fields)))
        if row.state == "imported":
            return
        if row.needs:
            _ask(row, version)
        _checked(row)
        if row.state == "checked" and st.button(t("commit", lang, name=plain(upload.name)), type="primary",
                                                key=f"commit_{upload.number}", disabled=blocked):
            _import(row, demo)
            _stored()


if not allowed:
    st.info(t("upload_denied", lang), icon=":material/lock:")
else:
    listed: dict[str, Upload] = st.session_state.setdefault(LIST, {})
    dropped = st.session_state.setdefault(DROPPED, 0)
    files = st.file_uploader(t("upload_files", lang), type=["csv", "xlsx", "txt"], accept_multiple_files=True,
                             key=f"upload_files_{dropped}")
    if files:  # into the list, and the chooser emptied for the next files
        for file in files:
            data = file.getvalue()
            digest = hashlib.sha256(data).hexdigest()
            if digest in listed:
                listed[digest].say("info", "upload_already_listed")
            else:
                number = st.session_state.get(NUMBERED, 0)
                listed[digest] = Upload(file.name, data, digest, number)
                st.session_state[NUMBERED] = number + 1
        st.session_state[DROPPED] = dropped + 1
        st.rerun()

    if listed:
        version = store.version()
        rows = [_row(upload, version) for upload in listed.values()]
        ready = [row for row in rows if row.state == "checked"]
        demo = ui.demo_in(batches)
        st.subheader(t("upload_list", lang))
        blocked = False
        if demo and ready:  # the first real upload: demo and real figures must not add up unnoticed
            st.warning(t("demo_before_upload", lang), icon=":material/science:")
            choice = st.radio(t("demo_before_upload", lang), ["clear", "keep"], index=None, key="demo_choice",
                              format_func=lambda c: t(f"demo_choice_{c}", lang), label_visibility="collapsed",
                              horizontal=True)
            blocked = choice is None
        actions = st.container(horizontal=True)
        if len(ready) > 1 and actions.button(t("upload_import_all", lang, n=len(ready)), type="primary",
                                                key="import_all", disabled=blocked, icon=":material/upload:"):
            for row in ready:
                _import(row, demo)
            _stored()
        if any(row.state == "imported" for row in rows) and actions.button(
                t("upload_dismiss_imported", lang), key="dismiss_imported"):
            for row in rows:
                if row.state == "imported":
                    del listed[row.upload.digest]
            st.rerun()
        for row in rows:
            _show(row, version, blocked, demo)

ui.watch_rejections(lang, dismiss=allowed)

st.header(t("history", lang))
if batches.height == 0:
    st.caption(t("no_history", lang))
else:
    history = batches.select("batch", "path", "kind", "rows", "at", "by", "retracted", "sha256").sort(
        "batch", descending=True).with_columns(pl.col("kind").map_elements(lambda k: vocab("kind", k, lang),
                                                                           return_dtype=pl.String))
    ui.table(history, "batches", lang, key="history", height=300, column_config={
        "retracted": st.column_config.CheckboxColumn(t("retracted_col", lang)),
        "at": st.column_config.DatetimeColumn(t("at", lang), format="YYYY-MM-DD HH:mm:ss", timezone="Asia/Shanghai"),
    })
    live_batches = batches.filter(~pl.col("retracted"))
    if allowed and live_batches.height:
        with st.expander(t("retract", lang)):
            paths = dict(zip(live_batches["batch"].to_list(), live_batches["path"].to_list(), strict=True))
            batch = st.selectbox(t("retract_pick", lang), list(reversed(paths)), key="retract_batch",
                                 format_func=lambda b: f"{b} · {paths[b]}")
            sure = st.checkbox(t("retract_confirm", lang, batch=batch), key=f"retract_sure_{batch}")
            if st.button(t("retract_button", lang, batch=batch), disabled=not sure, key="retract_go"):
                path = store.retract(int(batch))
                st.session_state["retracted_note"] = t("retracted", lang, batch=batch, path=plain(path))
                _stored()
    if note := st.session_state.pop("retracted_note", None):
        st.success(note)
