"""``trainrig train``: train a model on data, every option generated from the params classes."""

from __future__ import annotations

import json

from trainrig.experiment import build_experiment, configure_plugins, import_user_class, read_json
from trainrig.hooks.plugin_params import plugin_sections
from trainrig.cli.options import ParamsOptions, Parser, apply, reject_unknown
from trainrig.log_keys import epochs_recorded
from trainrig.params import merge
from trainrig.train.params import TrainerParams

DESCRIPTION = """Train a model. Every field of the model's, the data's and the trainer's params is an option
(--model.FIELD, --data.FIELD, --trainer.FIELD, nested ones dotted). Booleans take true/false;
lists and dicts take JSON. --config reads a params.json-style file; options override it."""


def _selector_parser() -> Parser:
    parser = Parser(prog="trainrig train", add_help=False)
    parser.add_argument("--model")
    parser.add_argument("--data")
    parser.add_argument("--config")
    add_plugin_arguments(parser)
    return parser


def add_plugin_arguments(parser) -> None:
    parser.add_argument(
        "--plugin", action="append", default=[], metavar="PKG.MODULE", help="also load this module as a plugin (repeatable)"
    )
    parser.add_argument(
        "--no-plugin", action="append", default=[], metavar="NAME", help="block the plugin of this name (repeatable)"
    )


def parse_run_options(argv: list[str], prog: str, description: str, add_arguments) -> tuple:
    """Parse a run's command line: --model/--data/--config, plugins, and every params section as options.

    ``add_arguments(parser)`` adds the command's own arguments. Returns ``(args, tree, plugins, classes)``:
    the parsed arguments, the params tree with the options applied, the configured plugins, and the
    imported ``{"model": cls, "data": cls}`` (those named).
    """
    selected, _ = _selector_parser().parse_known_args(argv)
    tree = read_json(selected.config, "--config file") if selected.config else {}
    if selected.model:
        tree = merge(tree, {"model": {"class": selected.model}})
    if selected.data:
        tree = merge(tree, {"data": {"class": selected.data}})

    plugins = configure_plugins(tree, selected.plugin, selected.no_plugin)
    sections = [ParamsOptions("trainer", TrainerParams)]
    sections += [ParamsOptions(f"plugins.{name}", cls) for name, cls in plugin_sections(plugins).items()]
    classes = {}
    for position, (role, base) in enumerate((("model", "ModelBase"), ("data", "DataBase"))):
        path = (tree.get(role) or {}).get("class")
        if path:
            classes[role] = import_user_class(path, role, base)
            sections.insert(position, ParamsOptions(role, classes[role].params_cls()))

    parser = Parser(prog=prog, description=description)
    add_arguments(parser)
    add_plugin_arguments(parser)
    for section in sections:
        section.add_to(parser)
    args, unknown = parser.parse_known_args(argv)
    reject_unknown(unknown, [s for s in parser._option_string_actions if s.startswith("--")])

    roots = {"model": "model.params", "data": "data.params", "trainer": "trainer", "plugins": "plugins.params"}
    for section in sections:
        apply(tree, section.overrides(args), roots)
    return args, tree, plugins, classes


def train_arguments(parser: Parser) -> None:
    parser.add_argument("--model", metavar="PKG.MOD:CLASS", help="the ModelBase subclass to train")
    parser.add_argument("--data", metavar="PKG.MOD:CLASS", help="the DataBase subclass that provides the batches")
    parser.add_argument("--config", metavar="FILE.json", help="params as in OUTPUT/params.json (options override it)")
    parser.add_argument("--print-config", action="store_true", help="print the resulting params as JSON and exit")


def run(argv: list[str]) -> int:
    args, tree, plugins, _ = parse_run_options(argv, "trainrig train", DESCRIPTION, train_arguments)
    model, data, trainer_params, plugin_params = build_experiment(tree, plugins)

    from trainrig.train.trainer import Trainer

    trainer = Trainer(trainer_params, model, data, plugins=plugins, plugin_params=plugin_params)
    if args.print_config:
        print(json.dumps(trainer.params_dict(), indent=2))
        return 0
    history = trainer.train()
    if trainer_params.freeze.dry_run:
        return 0
    final = {name: values[-1] for name, values in history.items()}
    print(f"trained {epochs_recorded(history)} epochs; final: " + json.dumps(final))
    print(f"run directory: {trainer.output.root}")
    return 0
