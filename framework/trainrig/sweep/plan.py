"""A sweep's plan, ``SWEEP_DIR/sweep.json``: the options every run gets and one configuration per run.

Every configuration is checked before any run starts, as ``trainrig train`` would read it: its keys
must be options of the model's, the data's, the trainer's or a plugin's params and its values valid
for them; the first problem is one line naming the configuration. Running the same sweep command
again finds the plan it wrote and continues it; a different command for the same ``--out`` is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainrig.errors import TrainrigError

PLAN_FILE = "sweep.json"
RESERVED = {  # what the sweep sets for every run
    "--trainer.output_dir": "SWEEP_DIR/runs/<id>",
    "--trainer.stop_after_epoch": "the rungs of --halving",
}


def option_args(config: dict[str, Any]) -> list[str]:
    """``{"trainer.learning_rate": 0.01}`` as ``["--trainer.learning_rate", "0.01"]``."""
    from trainrig.cli.options import option_text

    return [arg for key, value in config.items() for arg in (f"--{key}", option_text(value))]


def describe(config: dict[str, Any]) -> str:
    """``trainer.learning_rate=0.01, model.units=64``."""
    from trainrig.cli.options import option_text

    return ", ".join(f"{key}={option_text(value)}" for key, value in config.items())


@dataclass
class Plan:
    """``command``: the options of every run (``--model``, ``--data``, fixed ``--trainer.*``, ...);
    ``configs``: one ``{dotted key: value}`` per run, in order (run ids ``000``, ``001``, ...);
    ``spec``: how they were made (``{"grid": ...}`` or ``{"random": N, "space": ..., "seed": S}``)."""

    out: Path
    command: list[str]
    configs: list[dict[str, Any]]
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        width = max(3, len(str(len(self.configs) - 1)))
        return [f"{i:0{width}d}" for i in range(len(self.configs))]

    def run_dir(self, run_id: str) -> Path:
        return self.out / "runs" / run_id

    def config(self, run_id: str) -> dict[str, Any]:
        return self.configs[self.ids.index(run_id)]

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "spec": self.spec, "configs": self.configs}

    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / PLAN_FILE
        staging = path.with_name(f".{PLAN_FILE}.tmp")
        staging.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        staging.replace(path)

    @classmethod
    def load(cls, out: str | Path) -> "Plan":
        from trainrig.experiment import read_json

        out = Path(out)
        if not (out / PLAN_FILE).is_file():
            raise TrainrigError(f"{out} is not a sweep directory (no {PLAN_FILE}); start one with trainrig sweep --out {out} ...")
        saved = read_json(out / PLAN_FILE, "sweep plan")
        return cls(out=out, command=list(saved["command"]), configs=list(saved["configs"]), spec=dict(saved["spec"]))

    def continue_or_save(self) -> "Plan":
        """The plan already in ``out`` if it is this one (the same command again continues it), else
        this plan, written; a different sweep in ``out`` is refused."""
        if not (self.out / PLAN_FILE).is_file():
            self.save()
            return self
        saved = Plan.load(self.out)
        if saved.to_json() != json.loads(json.dumps(self.to_json())):
            raise TrainrigError(
                f"{self.out} holds another sweep (its {PLAN_FILE} has other options or configurations); choose another "
                f"--out, or continue that one with: trainrig sweep --resume {self.out}"
            )
        return saved


def check_command(command: list[str]) -> None:
    for reserved in RESERVED:
        if any(arg == reserved or arg.startswith(reserved + "=") for arg in command):
            raise TrainrigError(f"{reserved} is set by the sweep ({RESERVED[reserved]}); leave it out")


def check_configs(plan: Plan) -> list[int]:
    """Read every configuration as ``trainrig train`` would; the first problem is one line naming it.
    Returns each configuration's ``trainer.epochs``."""
    from trainrig.cli.train import DESCRIPTION, parse_run_options, train_arguments
    from trainrig.experiment import experiment_params

    check_command(plan.command)
    epochs = []
    for run_id, config in zip(plan.ids, plan.configs):
        for key in config:
            if f"--{key}" in RESERVED:
                raise TrainrigError(f"--{key} is set by the sweep ({RESERVED[f'--{key}']}); it cannot vary")
        try:
            _, tree, plugins, _ = parse_run_options(
                [*plan.command, *option_args(config)], "trainrig sweep", DESCRIPTION, train_arguments
            )
            _, _, trainer_params, _ = experiment_params(tree, plugins)
        except TrainrigError as e:
            raise TrainrigError(f"configuration {run_id} ({describe(config)}): {e}") from None
        epochs.append(trainer_params.epochs)
    return epochs
