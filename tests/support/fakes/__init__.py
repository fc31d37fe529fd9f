"""In-memory stand-ins for the service layer's ports (``chalicelib.service_layer.ports``)
and for intake's clock. Each passes the same contract tests as the adapter it replaces
(``tests/integration/adapters``), so unit tests of the use cases can rely on them."""
