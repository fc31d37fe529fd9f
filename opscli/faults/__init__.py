"""Fault injection on a whole exchange run as processes, isolated from the shared stack:
start, kill -9 and restart any service or process of it (``exchange``), drive orders
through its HTTP API recording every answer (``traffic``), and check afterwards that
nothing was lost, duplicated or left unbalanced (``checks``). Used by the fault tests
(tests/integration/faults) and the soak benchmark (bench/soak.py)."""
