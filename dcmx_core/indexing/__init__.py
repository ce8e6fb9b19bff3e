"""The indexing loop and its parts, each in its own module.

- :mod:`.indexer`: the loop (run, follow, step) over the parts below;
- :mod:`.fetch`: a range's headers and decoded events from the source;
- :mod:`.readahead`: the next final ranges fetched while the current one is written;
- :mod:`.backfill`: indexes and journal triggers dropped while far behind;
- :mod:`.reorg`: forks found and rolled back;
- :mod:`.replay`: plugin tables rebuilt from the raw event tables;
- :mod:`.tuning`: the loop's knobs; :mod:`.reports`: what listeners are told.
"""

from .indexer import Indexer
from .reports import BatchReport, ForkReport
from .tuning import Tuning

__all__ = ["BatchReport", "ForkReport", "Indexer", "Tuning"]
