"""Command: ``init-submission`` (a valid submission folder for a timm architecture)."""

from __future__ import annotations

import click

from dermx_bench.cli.common import emit_json, json_option


def _classes(values: tuple[str, ...]) -> list[str] | None:
    """``--classes`` given once per class or comma-separated; None when not given."""
    out = [c.strip() for v in values for c in v.split(",") if c.strip()]
    return out or None


@click.command("init-submission")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--model", required=True, metavar="NAME", help="A timm architecture, e.g. resnet50 (built with "
              "pretrained=False; nothing is downloaded).")
@click.option("--weights", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Your trained state dict (.safetensors, .pt, .pth), copied into FOLDER. Default: the "
                   "architecture's random initialisation, to try the pipeline with.")
@click.option("--classes", "classes", multiple=True, metavar="NAMES",
              help="The model's outputs in order, comma-separated or repeated (\"ignore\" for an output that "
                   "is no DermX diagnosis). Default: the six DermX diagnoses.")
@click.option("--name", default=None, help="The submission's name on the leaderboard (default: MODEL on DermX).")
@click.option("--author", "authors", multiple=True, help="An author (repeatable).")
@click.option("--input-size", nargs=2, type=click.IntRange(8, 8192), default=None, metavar="H W",
              help="Model input height and width (default: timm's for MODEL).")
@click.option("--resize", default="shorter-side+center-crop", show_default=True,
              type=click.Choice(["stretch", "shorter-side+center-crop"]),
              help="How photographs become model inputs (as you trained).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed of the random initialisation (without --weights).")
@json_option
def init_submission_cmd(folder: str, model: str, weights: str | None, classes: tuple[str, ...], name: str | None,
                        authors: tuple[str, ...], input_size: tuple[int, int] | None, resize: str, seed: int,
                        as_json: bool) -> None:
    """Write FOLDER/submission.toml for a timm architecture, and check it at once.

    Input size, mean and std come from timm's own configuration of MODEL. The
    weights are loaded exactly as 'score' loads them: weights of another
    architecture or with another number of classes are refused here, with the
    fix named, and FOLDER is left as it was.

    \b
    Example:
      dermx-bench init-submission my-model --model resnet50 --weights resnet50_dermx.safetensors
      dermx-bench score my-model --store dermx.db --images photos/ --out runs/my-model
    """
    from dermx_bench.harness.submission_init import init_submission

    result = init_submission(folder, model, weights=weights, classes=_classes(classes), name=name,
                             authors=authors or ("A. Researcher",), input_size=input_size, resize=resize, seed=seed)
    if as_json:
        emit_json(result.as_dict())
        return
    d = result.data
    click.echo(f"Wrote {result.config_file} ({model}, {len(result.classes)} classes, input "
               f"{d.input_size[0]}x{d.input_size[1]}, mean {list(d.mean)}, std {list(d.std)})")
    if result.random_weights:
        click.echo(f"Weights: {result.weights} is {model}'s random initialisation (a floor, to try the pipeline); "
                   "pass --weights for your trained ones")
    else:
        click.echo(f"Weights: {result.weights} fit {model} and its {len(result.classes)} classes")
    if result.target_layer is None:
        click.echo(f"No default target layer ({result.layer_problem}): score it with an input attribution "
                   "method, e.g. --method integrated-gradients")
    click.echo(f"Next: dermx-bench score {folder} --store dermx.db --images photos/ --out runs/{model}")


COMMANDS: list[click.Command] = [init_submission_cmd]
