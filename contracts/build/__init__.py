"""The DCMX platform's compiled contracts (solc artifacts: ABI and bytecode), shipped as
package data of ``dcmx_plugins.artifacts`` so that an installed wheel deploys them too.
Written by ``npm --prefix contracts run build``; never edited by hand."""
