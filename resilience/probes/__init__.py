"""Chaos Toolkit probes against any Target: ``slo`` (load timeline), ``health``, ``integrity``."""
