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

__all__ = ["SERVICES", "BadResponse", "Service"]

SERVICES: Mapping[str, Service] = {service.name: service for service in (CodeArtsCheck(), DWS(), EVS(), CPH())}
