"""The parts of the live path that :mod:`dashboard.tailer` puts together.

- :mod:`~dashboard.live.cursors`: the points cursor over ids that commit out of order (pure).
- :mod:`~dashboard.live.state`: a sweep's live state, folding what a read found into the
  message pages get (pure: rows in, increment out).
- :mod:`~dashboard.live.reader`: the database reads, on the tailers' one reader thread.
- :mod:`~dashboard.live.streams`: one open page, and the increments it is sent.
- :mod:`~dashboard.live.membership`: the one page's channel that stands in the sweep's group.
- :mod:`~dashboard.live.snapshots`: a page's first message.
"""
