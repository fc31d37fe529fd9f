"""The matching service: consumes `orders`, runs the engine, settles in PostgreSQL.

Run it with ``python -m matching_cluster.service`` (see ``__main__``); the batch
transaction is in ``batch``, fencing and recovery in ``consumer``, the settlement math
in ``settlement`` and the after-commit market data in ``publishing``.
"""
