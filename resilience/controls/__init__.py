"""Chaos Toolkit controls: ``load`` (Locust lifecycle), ``timeline`` (the run clock), ``safeguards``."""
