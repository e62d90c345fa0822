"""Capacity planning under fault: step the load up under each condition and find the knee.

``result`` holds the capacity.json model; the orchestrator steps load, applies conditions, measures and
respects a time budget. The knee itself is computed in ``resilience.analysis.capacity`` (pure).
"""
