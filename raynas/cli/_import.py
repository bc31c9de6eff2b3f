"""``raynas import ofa``: once-for-all's published supernets as raynas checkpoints."""

from __future__ import annotations

import argparse
from typing import Any, Callable

__all__ = ["add_commands", "COMMANDS"]

IMPORT_EPILOG = """\
example:
  raynas import ofa --net ofa_mbv3_d234_e346_k357_w1.0 --weights ofa_mbv3_d234_e346_k357_w1.0 --out runs/ofa-w1.0
  raynas search --checkpoint runs/ofa-w1.0 --dataset ... --max-latency-ms 20 --out runs/ofa-search

The weights file is the one once-for-all publishes for the net id (its model zoo downloads it
from https://raw.githubusercontent.com/han-cai/files/master/ofa/ofa_nets/<net id>).
"""


def add_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``import`` (with its one source, ``ofa``) to the subcommands ``sub``."""
    from raynas.ofa import NETS

    imp = sub.add_parser("import", help="import a published supernet as a raynas checkpoint folder",
                         description="Import a supernet trained elsewhere as a raynas checkpoint folder that "
                                     "search, export, latency and predictor take.")
    sources = imp.add_subparsers(dest="source", required=True, parser_class=type(imp))
    ofa = sources.add_parser(
        "ofa", help="once-for-all's published ImageNet supernets",
        description="Read once-for-all's published weights file for NET (either generation of its key names), "
                    "check every key and shape, and write OUT/supernet.pt. Its subnets compute what OFA's "
                    "set_active_subnet / get_active_subnet compute.",
        epilog=IMPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(ofa)
    ofa.add_argument("--net", required=True, choices=list(NETS), metavar="NET_ID",
                     help=f"the published net: {', '.join(NETS)}")
    ofa.add_argument("--weights", required=True, metavar="FILE", help="the weights file OFA publishes for NET_ID")
    ofa.add_argument("--out", required=True, metavar="DIR", help="the raynas checkpoint folder to write")
    ofa.add_argument("--overwrite", action="store_true", help="replace the checkpoint already in --out")


def cmd_import(args: argparse.Namespace) -> int:
    from raynas.ofa import import_ofa

    net = import_ofa(args.weights, args.net, out=args.out, overwrite=args.overwrite)
    source = net.checkpoint_meta["imported_from"]
    space = net.space
    largest, smallest = space.largest(), space.smallest()
    print(f"imported {args.net} ({source['key_names']} key names, {len(net.state_dict())} entries, "
          f"sha256 {source['sha256'][:12]}) as space {space.name!r} {space.kwargs.get('width_mult')}x")
    print(f"  {space.size:.3g} subnets; largest {space.params(largest) / 1e6:.2f}M params, "
          f"{space.flops(largest) / 1e6:.0f} MFLOPs at {largest['resolution']} px; smallest "
          f"{space.flops(smallest) / 1e6:.0f} MFLOPs at {smallest['resolution']} px")
    print(f"checkpoint: {args.out}")
    return 0


COMMANDS = {"import": cmd_import}
