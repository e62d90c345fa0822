"""``python -m resilience.alerting --port P --record FILE``: run the alert receiver (the local stack's
``alert-receiver`` component)."""

from resilience.alerting.receiver import main

raise SystemExit(main())
