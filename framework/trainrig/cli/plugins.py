"""``trainrig plugins``: the installed plugins, their versions and the hooks each implements
(``--all``: also the built-in plugins and the augmentation names each plugin registers)."""

from __future__ import annotations

import json

from trainrig.cli.options import Parser
from trainrig.cli.train import add_plugin_arguments


def run(argv: list[str]) -> int:
    parser = Parser(prog="trainrig plugins", description="List the plugins trainrig loads and the hooks each implements.")
    parser.add_argument("--json", action="store_true", help="print JSON for machines instead of a table")
    parser.add_argument("--all", action="store_true", help="include trainrig's built-in plugins and list the augmentations every plugin registers")
    add_plugin_arguments(parser)
    args = parser.parse_args(argv)

    from trainrig.hooks.manager import configure, plugin_manager

    configure(args.plugin, args.no_plugin)
    manager = plugin_manager()
    rows = [row for row in manager.listing() if args.all or args.json or not row["builtin"]]
    if args.all:
        _add_augmentations(manager, rows)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no plugins installed (trainrig plugins --all shows the built-in ones)")
        return 0
    header = ("name", "distribution", "version", "hooks")
    table = [(r["name"], r["distribution"], r["version"], ", ".join(r["hooks"])) for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *table)]
    for line in (header, *table):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip())
    for row in rows:
        if row.get("augmentations"):
            print(f"\naugmentations of {row['name']} ({len(row['augmentations'])}): {', '.join(row['augmentations'])}")
    return 0


def _add_augmentations(manager, rows: list[dict]) -> None:
    """Each row gets ``augmentations``: the names its plugin registers (calling the hook may import Keras)."""
    registered = dict(manager.contributions("trainrig_register_augmentations", "a dict", lambda r: isinstance(r, dict)))
    for row in rows:
        if row["name"] in registered:
            row["augmentations"] = list(registered[row["name"]])
