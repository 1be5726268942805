"""ducksync's testing kit: real servers, devices and convergence checks for pytest.

``pip install 'ducksync[testing]'`` registers the pytest plugin (fixtures
``ducksync_server`` and ``ducksync_device``); import the helpers from here. Guide:
docs/testing.md. Nothing here runs in the browser (it is left out of the Pyodide
archive); it drives one.
"""

from __future__ import annotations

from ducksync.testing.checks import ConvergedRows, assert_converged, wait_until
from ducksync.testing.device import Device, DeviceError
from ducksync.testing.server import DucksyncServer, ServerError, free_port, start_server

__all__ = ["ConvergedRows", "Device", "DeviceError", "DucksyncServer", "ServerError",
           "assert_converged", "free_port", "start_server", "wait_until"]
