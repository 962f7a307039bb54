"""Executors run shards of inputs through the steps; steps never know which executor runs them."""
