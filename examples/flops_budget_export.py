"""Search under a FLOPs budget, then export the best subnet as a model that needs only torch.

    python examples/flops_budget_export.py --checkpoint runs/quickstart/supernet   # a trained supernet
    python examples/flops_budget_export.py                                         # trains one first
    python examples/flops_budget_export.py --max-mflops 0.8 --budget 60
    python examples/flops_budget_export.py --fast ...                              # a smoke test (or RAYNAS_EXAMPLE_FAST=1)

Without --max-mflops the budget is halfway between the smallest and the largest subnet.
The same from the shell:

    raynas search --checkpoint DIR --max-flops 8e5 --budget 60 --out runs/budget
    raynas export --checkpoint DIR --arch runs/budget/best.json --out subnet.pt --format torchscript
"""

import argparse
import os

import torch

import raynas
from raynas.data import load
from raynas.export import export_subnet
from raynas.train import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="a trained supernet (default: train the tiny one first)")
    parser.add_argument("--max-mflops", type=float, default=None)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--out", default="runs/flops-budget")
    parser.add_argument("--fast", action="store_true", default=os.environ.get("RAYNAS_EXAMPLE_FAST") == "1")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS or a local Ray)")
    args = parser.parse_args()
    raynas.init_ray(args.address)

    checkpoint = args.checkpoint
    if checkpoint is None:
        config = TrainConfig(space="tiny", dataset="digits", epochs=1 if args.fast else 8,
                             num_workers=1 if args.fast else 2)
        checkpoint = str(train(config, os.path.join(args.out, "supernet"), overwrite=True).checkpoint)
    supernet = raynas.Supernet.load(checkpoint)
    space = supernet.space
    dataset = supernet.checkpoint_meta.get("train_config", {}).get("dataset", "digits")
    low, high = space.flops(space.smallest()), space.flops(space.largest())
    max_flops = args.max_mflops * 1e6 if args.max_mflops else (low + high) / 2
    print(f"subnets cost {low / 1e6:.2f} to {high / 1e6:.2f} MFLOPs; budget {max_flops / 1e6:.2f} MFLOPs")

    # Every strategy proposes only subnets within the budget.
    constraints = raynas.Constraints(max_flops=max_flops)
    evaluator = raynas.SupernetEvaluator(checkpoint, dataset=dataset, threads=1)
    result = raynas.search(space, evaluator, strategy="evolution", num_samples=4 if args.fast else args.budget,
                           max_concurrent=2, constraints=constraints, out_dir=os.path.join(args.out, "search"),
                           overwrite=True, address=args.address)
    best = result.best_arch
    print(f"best within budget: accuracy {result.best_metrics['accuracy']:.2f}%, {space.flops(best) / 1e6:.2f} MFLOPs")

    # Export: a TorchScript file that runs with torch alone (no raynas on the deployment side). Its BN
    # statistics are re-calibrated as the search's evaluator did, so it scores what the search measured.
    exported = export_subnet(checkpoint, best, os.path.join(args.out, "subnet.pt"), format="torchscript",
                             dataset=dataset)
    model = torch.jit.load(str(exported.path))
    images, labels = load(dataset, seed=0).val.tensors
    with torch.no_grad():
        accuracy = 100.0 * int((model(images).argmax(dim=1) == labels).sum()) / len(labels)
    print(f"exported {exported.path} ({exported['params'] / 1e3:.1f} K params): {accuracy:.2f}% on the "
          f"validation images, as the search measured: {abs(accuracy - result.best_metrics['accuracy']) < 1e-6}")
    if abs(accuracy - result.best_metrics["accuracy"]) > 1e-6:
        raise SystemExit("the exported model does not score what the search measured")


if __name__ == "__main__":
    main()
