"""Upload: platform exports checked (kind, header mapping, preview, problems) and committed; history and retract."""

from __future__ import annotations

import polars as pl
import streamlit as st

from relief_live import auth, ingest, schema, state, ui
from relief_live.i18n import plain, t, vocab
from relief_live.store import describe_failure

lang = state.lang()
st.title(t("page_upload", lang))
store = ui.store()
allowed = auth.may_write()

if not allowed:
    st.info(t("upload_denied", lang), icon=":material/lock:")
else:
    for message in st.session_state.pop("upload_done", []):
        st.success(message)
    files = st.file_uploader(t("upload_files", lang), type=["csv", "xlsx", "txt"], accept_multiple_files=True,
                             key="upload_files")
    for number, file in enumerate(files or []):
        data = file.getvalue()
        with st.container(border=True):
            st.subheader(plain(file.name))
            supplied: dict[str, str | None] = {"session_id": None, "host_kind": None, "platform": None}
            first = ingest.inspect_bytes(file.name, data, store=store, max_bytes=ingest.MAX_UPLOAD_BYTES)
            if first.needs:
                st.caption(t("needs_fields", lang))
                cols = st.columns(3)
                if "session_id" in first.needs:
                    supplied["session_id"] = cols[0].text_input(t("session_id", lang), key=f"sid_{number}") or None
                if "host_kind" in first.needs:
                    supplied["host_kind"] = cols[1].selectbox(
                        t("host_kind", lang), ["broadcast", "cadre"], index=None, key=f"hk_{number}",
                        format_func=lambda k: vocab("hk", k, lang))
                if "platform" in first.needs:
                    supplied["platform"] = cols[2].selectbox(
                        t("platform", lang), sorted(set(schema.PLATFORMS.values())), index=None, key=f"pf_{number}",
                        format_func=lambda k: vocab("pf", k, lang))
            inspection = (ingest.inspect_bytes(file.name, data, store=store, max_bytes=ingest.MAX_UPLOAD_BYTES,
                                               **supplied)
                          if any(supplied.values()) else first)
            st.markdown(t("detected_kind", lang, kind=vocab("kind", inspection.kind, lang))
                        if inspection.kind else f"**{t('kind_unknown', lang)}**")
            if inspection.mapping:
                with st.expander(t("mapping", lang), expanded=False):
                    mapping = pl.DataFrame({
                        t("source_header", lang): [source for source, _ in inspection.mapping],
                        t("canonical", lang): [canonical or "—" for _, canonical in inspection.mapping],
                    })
                    st.dataframe(mapping, hide_index=True)
                if inspection.unknown:
                    st.caption(t("unknown_headers", lang, headers=plain(", ".join(inspection.unknown))))
            if inspection.problems:
                st.error(t("problems", lang), icon=":material/error:")
                problems = pl.DataFrame({
                    t("problem_line", lang): [p.line for p in inspection.problems],
                    t("problem_column", lang): [p.column for p in inspection.problems],
                    t("problem_value", lang): [p.value for p in inspection.problems],
                    t("problem_message", lang): [p.message for p in inspection.problems],
                }, schema_overrides={t("problem_line", lang): pl.Int64})
                st.dataframe(problems, hide_index=True, key=f"problems_{number}")
                continue
            if inspection.frame is not None:
                frame = inspection.frame
                st.caption(t("preview", lang, rows=f"{frame.height:,}"))
                st.dataframe(ui.preview(inspection.kind, frame.head(50)), hide_index=True, height=220, placeholder=ui.MISSING,
                             key=f"preview_{number}")
                if st.button(t("commit", lang, name=plain(file.name)), type="primary", key=f"commit_{number}"):
                    try:
                        result = ingest.ingest_bytes(store, file.name, data, by=auth.who(), **supplied)
                    except ingest.Rejected as rejected:
                        st.error("\n".join(plain(p) for p in rejected.problems))
                    except Exception as error:  # the store's (a full disk, a lock held too long): said, not a traceback
                        if not ingest.store_failure(error):
                            raise
                        st.error(plain(f"{file.name}: {describe_failure(store, error)}"))
                    else:
                        key = "committed" if result.status == "ingested" else "unchanged"
                        st.session_state.setdefault("upload_done", []).append(
                            t(key, lang, name=plain(file.name), rows=f"{result.rows:,}", batch=result.batch))
                        st.rerun()

st.header(t("history", lang))
batches = store.batches()
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
                st.session_state.setdefault("upload_done", []).append(t("retracted", lang, batch=batch, path=plain(path)))
                st.rerun()
