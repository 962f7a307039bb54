"""The audit app: a Streamlit multipage app over one release, read through DuckDB (see `queries.py`).

Run it with `apertura app releases/r1` or `streamlit run audit_app/app.py -- --release releases/r1`.
"""
