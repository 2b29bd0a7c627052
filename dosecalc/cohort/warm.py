"""Importing this module readies a process to evaluate plans: the imports of
:func:`dosecalc.cohort.evaluate.evaluate_plan` and numba's one-time compiler-context set-up
(:func:`dosecalc.cohort.evaluate.warm_up`).

The batch's fork server imports it once (``WorkerPool``'s preload), so every worker forked
from that server starts ready: measured on the 2-core machine, a spawned worker spent
about 2.5 s (imports 1.0-1.6 s, numba's set-up 0.5-0.9 s) before its first plan; a worker
forked from the ready server spends milliseconds.  Nothing else imports it.
"""

from __future__ import annotations

from .evaluate import warm_up

warm_up()
