"""What each ``reactor worker`` process runs at start: Dramatiq's CLI calls ``setup``.

``reactor worker`` starts ``dramatiq reactor.worker_process:setup``; Dramatiq imports this
module and calls ``setup`` once in every worker process, which is when settings are read.
"""

from __future__ import annotations

import dramatiq

from reactor.config import load_settings
from reactor.logs import configure_logging
from reactor.runtime import Runtime

runtime: Runtime | None = None


def setup() -> None:
    """Build this process's runtime (database, rules, broker, actors); give Dramatiq the broker."""
    global runtime
    settings = load_settings()
    configure_logging(settings)
    runtime = Runtime(settings)
    dramatiq.set_broker(runtime.broker)
