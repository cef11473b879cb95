"""scaleplan's engine: scaling laws, architecture, hardware, budgets, memory, fitting, training jobs.

Importable without Streamlit; the pages and the CLI are thin layers over it.
"""
