"""The model side: base models, prompt formats, generation and (later) fine-tuning.

Plain Python that never imports dagster, so it runs as-is on a GPU box; torch and
transformers are imported inside the functions that use them.
"""
