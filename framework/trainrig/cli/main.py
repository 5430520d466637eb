"""``trainrig`` command dispatcher. Imports a command's module only when that command runs.

``trainrig --help`` therefore imports no TensorFlow and answers at once.
"""

from __future__ import annotations

import importlib
import os
import sys

from trainrig.errors import TrainrigError

COMMANDS = {
    "train": ("trainrig.cli.train", "train a model on data: trainrig train --model PKG.MOD:Model --data PKG.MOD:Data"),
    "resume": ("trainrig.cli.resume", "continue an interrupted run exactly where it stopped: trainrig resume OUTPUT"),
    "lav": ("trainrig.cli.lav", "load and validate a run: every loss, metric, evaluator value and the metric suite"),
    "predict": ("trainrig.cli.predict", "write a run's predictions on its data to a .npz file"),
    "export": ("trainrig.cli.export", "(re)export a run's graphs from its newest checkpoint or best model"),
    "schedule": (
        "trainrig.cli.schedule",
        "print the learning rate at every epoch boundary without training (takes train's options)",
    ),
    "sweep": (
        "trainrig.cli.sweep",
        "one run per configuration of a grid or random space, compared: trainrig sweep --out DIR ... --grid JSON",
    ),
    "launch": (
        "trainrig.cli.launch",
        "run a command as N local workers of one multi-worker run: trainrig launch --workers N -- train ...",
    ),
    "plugins": ("trainrig.cli.plugins", "list installed plugins, their versions and hooks (--json for machines)"),
}

EXIT_USAGE = 2


def _usage() -> str:
    lines = ["usage: trainrig COMMAND [options]   (trainrig COMMAND --help for a command's options)", "", "commands:"]
    lines += [f"  {name:<9} {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else EXIT_USAGE
    if argv[0] in ("-V", "--version"):
        from trainrig import __version__

        print(f"trainrig {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"trainrig: error: unknown command {name!r}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return EXIT_USAGE
    # TensorFlow's C++ start-up chatter hides the lines users need; keep its warnings and errors.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return importlib.import_module(COMMANDS[name][0]).run(rest) or 0
    except TrainrigError as e:
        stopped = getattr(e, "exit_code", None)
        print(f"trainrig {name}: {'' if stopped else 'error: '}{e}", file=sys.stderr)
        return stopped or EXIT_USAGE
    except KeyboardInterrupt:
        print(f"trainrig {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
