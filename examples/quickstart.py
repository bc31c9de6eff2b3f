"""Quickstart: train a supernet on the embedded `digits` data, search it, use the best subnet.

    python examples/quickstart.py                      # a few minutes on two CPU cores
    python examples/quickstart.py --fast               # a smoke test: 1 epoch, 4 subnets (or RAYNAS_EXAMPLE_FAST=1)
    python examples/quickstart.py --address auto       # on a running Ray cluster (or set RAY_ADDRESS)

Everything goes under --out (default runs/quickstart; replaced on every run).
"""

import argparse
import os

import torch

import raynas
import search_spaces
from raynas.data import load
from raynas.export import export_subnet
from raynas.train import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/quickstart")
    parser.add_argument("--fast", action="store_true", default=os.environ.get("RAYNAS_EXAMPLE_FAST") == "1")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS or a local Ray)")
    args = parser.parse_args()
    raynas.init_ray(args.address)

    # 1. Train the `tiny` supernet with the BigNAS sandwich rule as a Ray Train job.
    config = TrainConfig(space="tiny", dataset="digits", method="sandwich",
                         epochs=1 if args.fast else 8, num_workers=1 if args.fast else 2)
    trained = train(config, os.path.join(args.out, "supernet"), overwrite=True, address=args.address)
    print(f"supernet: {trained.checkpoint}")

    # 2. Search it: every trial evaluates one subnet with inherited weights (BN re-calibrated).
    space = search_spaces.get("tiny")
    evaluator = raynas.SupernetEvaluator(trained.checkpoint, dataset="digits", threads=1)
    result = raynas.search(space, evaluator, strategy="evolution", num_samples=4 if args.fast else 40,
                           max_concurrent=2, out_dir=os.path.join(args.out, "search"), overwrite=True,
                           address=args.address)
    best = result.best_arch
    print(f"best of {len(result.history)} subnets: accuracy {result.best_metrics['accuracy']:.2f}%, "
          f"{space.flops(best) / 1e6:.2f} MFLOPs, {space.params(best) / 1e3:.1f} K params")
    print(f"  {best}")

    # 3. Export it (BN re-calibrated as the search did) as TorchScript: a plain model that needs only torch.
    exported = export_subnet(trained.checkpoint, best, os.path.join(args.out, "subnet.pt"), format="torchscript")
    model = torch.jit.load(str(exported.path))
    images, labels = load("digits", seed=0).val.tensors
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
    accuracy = 100.0 * int((predicted == labels).sum()) / len(labels)
    print(f"exported {exported.path}: {accuracy:.2f}% on the {len(labels)} validation images "
          f"(the search measured {result.best_metrics['accuracy']:.2f}%)")
    print(f"first predictions {predicted[:10].tolist()}\n     true labels {labels[:10].tolist()}")
    print(f"everything is in {os.path.abspath(args.out)}")


if __name__ == "__main__":
    main()
