"""The dashboard's entry: navigation over views/, the sidebar (language, share link, sign-in), kiosk mode.

The page files live in views/, not pages/: with a pages/ folder beside this script, Streamlit 1.67 runs a
server's first session through its old folder-based navigation, so a first visitor's deep link
(/villages, a shared link) runs the page file alone, without this script's sidebar, sign-in or
language, and every later session too until someone opens the root page.
"""

from __future__ import annotations

import streamlit as st

from relief_live import auth, i18n, state, waiting
from relief_live.i18n import t

# An emoji icon: Streamlit draws it as an inline image, where a :material/…: icon is fetched from a Google host
# (blocked where programme staff work; the page must need nothing beyond this server).
st.set_page_config(page_title="relief-live", page_icon="🌾", layout="wide")

sticky = state.sticky()
lang, kiosk = sticky["lang"], sticky["kiosk"] == "1"
auth.refuse_unknown_host(lang)  # with no password or OIDC: a page of another site pointed at this machine

# The modules below load polars, plotly and SQLAlchemy (about a second), and the first visit after the server
# starts then reads every stored row: the notice says so before either begins, instead of a blank page.
with waiting.first_visit(lang) as said:
    from relief_live import ui, wall
    from relief_live.alerts import board

    ui.ensure_demo()
    ui.frames(said=said)

PAGES = [
    # The Overview is the root page, and /overview opens it too (a hidden twin): a link written by hand, or
    # copied while there, must not open "Page not found". A default page's own path is reserved, not served.
    st.Page("views/overview.py", title=t("page_overview", lang), icon=":material/dashboard:",
            url_path="home", default=True),
    st.Page("views/overview.py", title=t("page_overview", lang), icon=":material/dashboard:",
            url_path="overview", visibility="hidden"),
    st.Page("views/live.py", title=t("page_live", lang), icon=":material/live_tv:", url_path="live"),
    st.Page("views/villages.py", title=t("page_villages", lang), icon=":material/agriculture:",
            url_path="villages"),
    st.Page("views/hosts.py", title=t("page_hosts", lang), icon=":material/record_voice_over:",
            url_path="hosts"),
    st.Page("views/alerts.py", title=t("page_alerts", lang), icon=":material/notifications:",
            url_path="alerts"),
    st.Page("views/upload.py", title=t("page_upload", lang), icon=":material/upload_file:", url_path="upload"),
]
page = st.navigation(PAGES, position="hidden" if kiosk else "sidebar")

if kiosk:
    # A wall screen: no sidebar, header or menu; large type.
    st.html("""<style>
      [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
      [data-testid="stToolbar"], [data-testid="stDecoration"], [data-testid="stExpandSidebarButton"] {display: none !important;}
      .block-container, [data-testid="stMainBlockContainer"] {padding-top: 1rem; max-width: 100%;}
      html, body, [data-testid="stAppViewContainer"] {font-size: 22px;}
      [data-testid="stMetricValue"] {font-size: 2.1rem;}
      [data-testid="stMetricLabel"] p {font-size: 1.1rem;}
    </style>""")
else:
    st.html("<style>[data-testid='stMetricValue'] {font-size: 1.9rem;}</style>")
    with st.sidebar:
        chosen = st.radio(t("language", lang), list(i18n.LANGS), index=list(i18n.LANGS).index(lang),
                          horizontal=True, format_func=lambda code: {"en": "English", "zh": "中文"}[code])
        if chosen != lang:
            state.set_sticky("lang", chosen)
            st.rerun()
        auth.sign_in_box(lang)

if kiosk:
    board.ticker(lang)
    wall.show()  # the wall screen in place of any page: the same screen whatever link it was opened from
else:
    page.run()
    # After the page: the bell's evaluation needs the report, and a first visit computes it under the page's
    # own spinner ("computing the figures…") instead of behind a blank page.
    with st.sidebar:
        board.bell(lang)

if not kiosk:
    with st.sidebar:
        st.divider()
        st.caption(t("share_link", lang))
        ui.link(state.share_url())
        st.caption(t("share_help", lang))
