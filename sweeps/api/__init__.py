"""The REST API: launch, watch, steer and export sweeps from scripts.

Views validate and check permissions; every state change goes through
:mod:`sweeps.services`. Errors have one shape per family: ``400 {"errors": {field: rule}}``
for bad input, ``{"detail": message}`` for 401/403/404/409.
"""
