"""What the product and the benchmarks measure with.

``lingodesk evaluate`` (``bot/evaluate_command.py``) and every suite of ``python -m benchmarks``
use the same readers of the data sets (``*_data``), the same metrics (:mod:`.metrics`), the same
per-language report (:mod:`.report`, with :mod:`.report_markdown` and :mod:`.report_plots`),
the same way of parsing a message through a trained Rasa model (:mod:`.rasa_parsing`), and the
benchmarks one result type and table (:mod:`.results`). Nothing here imports ``bot`` or
``benchmarks``: they build on this, not the other way round.
"""
