"""resilience: chaos-engineering and resilience test harness for the AGENT chat service."""

__version__ = "0.1.0"


def discover(discover_system: bool = True) -> dict[str, object]:
    """Chaos Toolkit's entry point for ``chaos discover resilience``: every fault, probe and control."""
    from resilience.discovery import discovery  # noqa: PLC0415 - chaoslib stays off every other import

    return discovery(discover_system)
