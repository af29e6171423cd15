"""The baseline page for bench/pages.py: one Plotly line chart of 60 points, nothing else."""

import plotly.graph_objects as go
import streamlit as st

st.title("Minimal")
st.plotly_chart(go.Figure(go.Scatter(x=list(range(60)), y=[(i * 37) % 11 for i in range(60)], mode="lines")),
                theme=None)
