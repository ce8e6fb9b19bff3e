"""dcmx-codegen: typed Python bindings, SQLAlchemy tables and SQL DDL from contract ABIs.

Public API::

    contracts = load_inputs([Path("contracts/build")])
    files = render_package(contracts, profile="tron")   # {file name: text}, marker included
    write_package(files, Path("generated"), "dcmx_generated")
    stale_files(files, Path("generated"))                 # what --check reports

Naming rules: see :mod:`dcmx_codegen.naming`. The output folder's marker, and why nothing else
in it is ever replaced or deleted: :mod:`dcmx_codegen.marker`, :mod:`dcmx_codegen.output`.
Limits on inputs: :mod:`dcmx_codegen.limits`.
"""

from .abi import AbiType, Contract, Event, Function, Param, load_artifact, parse_type
from .output import OutputError, load_inputs, stale_files, write_package
from .render import GENERATOR_VERSION, render_package

__version__ = GENERATOR_VERSION

__all__ = [
    "AbiType",
    "Contract",
    "Event",
    "Function",
    "Param",
    "GENERATOR_VERSION",
    "OutputError",
    "load_artifact",
    "load_inputs",
    "parse_type",
    "render_package",
    "stale_files",
    "write_package",
]
