"""Pure analysis of measurements: timelines, recovery, integrity, capacity knee."""
