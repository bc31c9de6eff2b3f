"""Search on an existing Ray cluster.

Start a cluster (`ray start --head` on one machine, `ray start --address HEAD:6379` on the
others), then from any machine that can reach it:

    python examples/cluster_search.py --address HEAD:6379        # or: RAY_ADDRESS=HEAD:6379 python ...
    python examples/cluster_search.py --checkpoint /shared/runs/tiny --storage /shared/ray-results

Trials run wherever the cluster has free CPUs. Every node must be able to read what the
evaluator reads: the NAS-Bench-201 table by default (packaged with raynas, so every node
with raynas installed has it; --table or RAYNAS_NB201 for another copy), or a supernet
--checkpoint on shared storage; --storage must be a
path every node reaches (shared disk or s3://...). Without an address the script starts
a local Ray, so it runs anywhere. --fast: a smoke test (or RAYNAS_EXAMPLE_FAST=1).
The same from the shell: raynas search --address HEAD:6379 --checkpoint ... --out ...
"""

import argparse
import os

import ray

import raynas
import search_spaces
from raynas.evaluate.table import nb201_table_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS"), help="the cluster (default: RAY_ADDRESS)")
    parser.add_argument("--checkpoint", default=None, help="search a trained supernet instead of the NB201 table")
    parser.add_argument("--table", default=None, help="the NAS-Bench-201 CSV, readable on every node")
    parser.add_argument("--strategy", default="evolution")
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=None, help="trials at once (default: the cluster's CPUs)")
    parser.add_argument("--storage", default=None, help="Tune's storage path, reachable from every node")
    parser.add_argument("--out", default="runs/cluster-search")
    parser.add_argument("--fast", action="store_true", default=os.environ.get("RAYNAS_EXAMPLE_FAST") == "1")
    args = parser.parse_args()

    if not args.address:
        print("no --address or RAY_ADDRESS: starting a local Ray instead of joining a cluster")
    raynas.init_ray(args.address)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    nodes = [n for n in ray.nodes() if n["Alive"]]
    print(f"Ray: {len(nodes)} node(s), {cpus} CPUs")

    if args.checkpoint:
        evaluator = raynas.SupernetEvaluator(args.checkpoint, threads=1)
        space = raynas.Supernet.load(args.checkpoint).space
    else:
        space = search_spaces.get("nb201")
        evaluator = raynas.TableEvaluator(args.table or nb201_table_path(), signal="cifar10_val_12ep", space=space)
    result = raynas.search(space, evaluator, strategy=args.strategy, num_samples=6 if args.fast else args.budget,
                           max_concurrent=args.concurrency or cpus, storage_path=args.storage, out_dir=args.out,
                           overwrite=True, address=args.address)

    print(f"{len(result.history)} trials ({result.num_failed} failed); best accuracy "
          f"{result.best_metrics.get('accuracy', float('nan')):.2f}: {result.best_arch}")
    print(f"results: {result.path} (history.csv, best.json); Tune's experiment: {args.storage or result.path / 'tune'}")


if __name__ == "__main__":
    main()
