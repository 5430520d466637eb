"""``trainrig predict OUTPUT|EXPORT --output FILE.npz``: the model's outputs on the data's prediction sequence."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainrig.cli.open_run import add_run_arguments
from trainrig.cli.options import Parser


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="trainrig predict",
        description="Run a run's model over its data's predict_sequence (default: the validation batches) and "
        "write every output, concatenated over batches, to a .npz file (numpy.load reads it).",
    )
    add_run_arguments(parser)
    parser.add_argument("--output", "-o", required=True, metavar="FILE.npz", help="where to write the predictions")
    args = parser.parse_args(argv)

    import keras

    from trainrig.cli.open_run import open_run
    from trainrig.data.pipeline import BatchSource

    trainer = open_run(args.path, args.weights)
    source = BatchSource(trainer.data.predict_sequence(trainer.params.batch_size), "prediction")
    collected: dict[str, list[np.ndarray]] = {}
    for inputs, _ in source.dataset().as_numpy_iterator():
        for name, value in trainer.parts.steps.predict(inputs).items():
            collected.setdefault(name, []).append(keras.ops.convert_to_numpy(value))
    arrays = {name: np.concatenate(parts) for name, parts in collected.items()}
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    np.savez(output, **arrays)
    rows = len(next(iter(arrays.values())))
    print(f"wrote {rows} predictions of {', '.join(arrays)} to {output}")
    return 0
