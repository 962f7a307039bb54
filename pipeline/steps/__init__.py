"""Batch -> (kept, removed) steps. Each step is set up once and knows nothing about files or executors."""
