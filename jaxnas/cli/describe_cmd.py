"""``jaxnas describe SPACE GENOME [--dataset D]``: one JSON object about a genome."""

from __future__ import annotations

import argparse
import json

from jaxnas.data import dataset_info
from jaxnas.nn import count_flops, count_params
from jaxnas.spaces import get_space


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "describe",
        help="print params, FLOPs and the normalised form of a genome as JSON",
        description=(
            "Validate a genome of a search space and print one JSON object with its canonical "
            "string, key, trainable parameter count and FLOPs (multiply-accumulates per image) "
            "for a dataset's input shape and class count. Example: "
            "jaxnas describe egnas L10-C64-o0000000000-k3333333333 --dataset cifar10"
        ),
    )
    parser.add_argument("space", help="search space: egnas, nb101, nb201 or darts")
    parser.add_argument("genome", help="the genome in the space's canonical string form")
    parser.add_argument("--dataset", default="cifar10", help="sets input shape and classes")
    parser.set_defaults(run=run)


def describe(space_name: str, genome_text: str, dataset: str = "cifar10") -> dict:
    """The facts `jaxnas describe` prints, as a dict."""
    space = get_space(space_name)
    genome = space.parse(genome_text)
    info = dataset_info(dataset)
    input_shape = (info.image_size, info.image_size, info.channels)
    return {
        "space": space_name,
        "genome": space.to_string(genome),
        "key": space.key(genome),
        "dataset": dataset,
        "input_shape": list(input_shape),
        "num_classes": info.num_classes,
        "params": count_params(space_name, genome, info.num_classes, input_shape),
        "flops": count_flops(space_name, genome, info.num_classes, input_shape),
    }


def run(args: argparse.Namespace) -> int:
    print(json.dumps(describe(args.space, args.genome, args.dataset), indent=2))
    return 0
