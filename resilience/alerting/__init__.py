"""The harness's alert receiver: Alertmanager's webhook, recording every notice on the run clock."""
