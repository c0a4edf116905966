from tests.workers import worker  # noqa: F401  (the fixture)
