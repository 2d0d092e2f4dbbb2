"""A local Dataverse (Dynamics 365) Web API server for tests and demos. See README.md."""

from dynamics_emulator.server import EmulatorServer

__all__ = ["EmulatorServer"]
