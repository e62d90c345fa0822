"""Charts, HTML report, JUnit XML, Markdown summary and compare."""
