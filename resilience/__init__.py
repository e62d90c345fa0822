"""resilience: chaos-engineering and resilience test harness for the AGENT chat service."""

__version__ = "0.1.0"
