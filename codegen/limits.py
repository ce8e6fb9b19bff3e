"""Limits on what ``dcmx-codegen`` reads: an input past one is refused with one line.

An artifact is untrusted input, and without limits a hostile one costs gigabytes of memory
(a huge file), a RecursionError (types nested thousands deep) or generated code that does not
compile (nesting past the parser's limits, tables past the databases' column limits). Each
limit is far above what real contracts need; in brackets, the largest value among the five
contracts and the 15 real-world ABIs the tests carry (Seaport, Uniswap v3, GMX...).

* ``MAX_FILE_BYTES`` (32 MiB): one input file [109 KiB; a Hardhat artifact with its bytecode
  is about as large, a standard-JSON output of a whole project a few MiB].
* ``MAX_TYPE_DEPTH`` (16): arrays and tuples nested in one parameter's type, ``tuple[]`` in a
  tuple in a ``tuple[]`` counting 4 [5].
* ``MAX_ARRAY_LENGTH`` (1,048,576): the length ``k`` of a fixed-size array ``T[k]``, 32 MiB of
  words [32].
* ``MAX_PARAMETERS`` (256): the inputs or the outputs of one entry, the members of one tuple
  [18]; PostgreSQL takes at most 1,600 columns in a table.
* ``MAX_NAME_LENGTH`` (1,024): characters in one name of a contract, entry or parameter [37],
  and in one type string.
* ``MAX_JSON_DEPTH`` (512): arrays and objects nested in the JSON document itself [7; the ASTs
  in a standard-JSON output go deeper, up to ~100]. Checked before parsing: Python's JSON
  parser recurses in C, and a deep enough document (100,000 ``[``) crashes the process when
  the recursion limit has been raised, instead of raising RecursionError.
"""

from __future__ import annotations

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_TYPE_DEPTH",
    "MAX_ARRAY_LENGTH",
    "MAX_PARAMETERS",
    "MAX_NAME_LENGTH",
    "MAX_JSON_DEPTH",
]

MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_TYPE_DEPTH = 16
MAX_ARRAY_LENGTH = 1 << 20
MAX_PARAMETERS = 256
MAX_NAME_LENGTH = 1024
MAX_JSON_DEPTH = 512
