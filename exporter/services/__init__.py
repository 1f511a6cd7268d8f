"""The cloud services the exporter knows, by their `cloud_service` label value.

Adding a service is one module with a `Service` subclass, one line here, and its tests.
"""

from __future__ import annotations

from collections.abc import Mapping

from exporter.services._base import BadResponse, Service
from exporter.services.codearts_check import CodeArtsCheck
from exporter.services.cph import CPH
from exporter.services.dws import DWS
from exporter.services.evs import EVS

__all__ = ["CODEARTS_CHECK", "CPH_JOBS", "SERVICES", "BadResponse", "Service"]

# The two services with list APIs, typed as themselves for the discovery code that calls those.
CODEARTS_CHECK = CodeArtsCheck()
CPH_JOBS = CPH()
SERVICES: Mapping[str, Service] = {service.name: service for service in (CODEARTS_CHECK, DWS(), EVS(), CPH_JOBS)}
