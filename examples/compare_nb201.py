"""Compare search strategies on the NAS-Bench-201 table: no training, just look-ups.

    python examples/compare_nb201.py                                  # 4 strategies x 5 seeds x 100 evaluations
    python examples/compare_nb201.py --strategies random,evolution,tpe --seeds 10 --dataset cifar100
    python examples/compare_nb201.py --fast                           # a smoke test (or RAYNAS_EXAMPLE_FAST=1)

The search signal is the 12-epoch validation accuracy (`<dataset>_val_12ep`); what the
found cell is worth is its 200-epoch test accuracy, so the report also shows the regret
against the table's best. Open <out>/report.html in a browser (or report.md for the PNG
plots). The same from the shell:

    raynas compare --benchmark nb201 --dataset cifar10 --strategies random,evolution --budget 100 --seeds 5 --out DIR
"""

import argparse
import os

import raynas
import search_spaces
from raynas.evaluate.table import nb201_table_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", default="random,evolution,reinforce,tpe")
    parser.add_argument("--dataset", default="cifar10", choices=["cifar10", "cifar100", "imagenet16"])
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--table", default=None, help="the NAS-Bench-201 CSV (default: $RAYNAS_NB201, else the table packaged with raynas)")
    parser.add_argument("--out", default="runs/compare-nb201")
    parser.add_argument("--fast", action="store_true", default=os.environ.get("RAYNAS_EXAMPLE_FAST") == "1")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS or a local Ray)")
    args = parser.parse_args()
    if args.fast:
        args.strategies, args.budget, args.seeds = "random,evolution", 10, 1

    space = search_spaces.get("nb201")
    evaluator = raynas.TableEvaluator(args.table or nb201_table_path(), signal=f"{args.dataset}_val_12ep", space=space)
    result = raynas.compare(space, evaluator, args.strategies.split(","), seeds=args.seeds, num_samples=args.budget,
                            max_concurrent=2, out_dir=args.out, overwrite=True, address=args.address)

    best, regret = result.final("best_accuracy"), result.final("regret")
    print(f"after {args.budget} evaluations, mean +- std over {args.seeds} seed(s) "
          f"(table optimum: {result.optimum:.2f}% test accuracy):")
    for strategy in best:
        print(f"  {strategy:<10} best val {best[strategy]['mean']:.2f} +- {best[strategy]['std']:.2f}   "
              f"regret {regret[strategy]['mean']:.2f} +- {regret[strategy]['std']:.2f}")
    print(f"report with plots: {result.path / 'report.html'} (open it in a browser); {result.report}")


if __name__ == "__main__":
    main()
