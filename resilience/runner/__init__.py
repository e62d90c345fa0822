"""The game-day runner: experiments through chaoslib under continuous load, verdicts, run.json."""
