"""``vlad train prompts``: learn AnomalyCLIP prompts (and LoRA adapters) on a dataset with masks.

Thin: parse, read the data (:mod:`vlad.data`), load the CLIP, build the model
(:mod:`vlad.scoring.learned`), call :func:`~vlad.scoring.learned.training.train_prompts`,
save the prompts (and adapters), print a summary. Registered by :func:`add_train_commands`.
Runs under ``accelerate launch -m vlad.cli train prompts ...`` for several GPUs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vlad.cli.options import add_clip_options, declare_outputs
from vlad.errors import ConfigError

FORMATS: tuple[str, ...] = ("mvtec", "visa", "folder")
ADAPTER_DIR = "adapter"
MERGED_FILE = "clip-merged.safetensors"


def add_train_commands(commands: Any) -> None:
    """Add ``vlad train prompts`` to the ``vlad`` command's subparsers.

    Args:
        commands: The subparsers action of the ``vlad`` parser.
    """
    from vlad.scoring.learned.config import LearnedPromptsConfig

    train = commands.add_parser(
        "train",
        help="train learned prompts (AnomalyCLIP) and LoRA adapters on data with masks",
        description="Train models that vlad detect uses.",
    )
    actions = train.add_subparsers(dest="train_command", metavar="WHAT", parser_class=type(train))
    actions.required = True
    prompts = actions.add_parser(
        "prompts",
        help="learn object-agnostic normal/anomalous prompts on an auxiliary dataset",
        description=(
            "Learn AnomalyCLIP's two prompts (and, with --adapter lora, LoRA adapters on the "
            "CLIP) on images with pixel masks: focal and dice losses on the maps, "
            "cross-entropy on the image score; CLIP weights stay frozen. Writes "
            "DIR/prompts.safetensors + prompts.json (+ DIR/adapter/), a checkpoint per epoch "
            "in DIR/checkpoints/, DIR/metrics.jsonl, DIR/loss.png and DIR/run.yaml. Several "
            "GPUs: accelerate launch -m vlad.cli train prompts ..."
        ),
    )
    data = prompts.add_argument_group("data")
    data.add_argument("--data", required=True, type=Path, metavar="ROOT", help="dataset folder")
    data.add_argument(
        "--format",
        choices=FORMATS,
        default="mvtec",
        help="mvtec (MVTec AD layout), visa (split_csv/1cls.csv) or folder (good/, DEFECT/, "
        "masks/DEFECT/)",
    )
    data.add_argument(
        "--category",
        dest="categories",
        action="append",
        default=None,
        metavar="NAME",
        help="mvtec, visa: only this category (repeatable; default: all)",
    )
    data.add_argument(
        "--split",
        choices=("test", "train", "all"),
        default=None,
        help="records to train on (default: test for mvtec and visa, the split with "
        "anomalies and masks, as the authors do; all for folder)",
    )
    add_clip_options(prompts)
    prompts.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="run folder to write"
    )
    run = prompts.add_argument_group("training")
    run.add_argument("--epochs", type=int, default=15, help="passes over the data")
    run.add_argument("--batch-size", type=int, default=8, help="images per batch (per GPU)")
    run.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    run.add_argument("--grad-accum", type=int, default=1, help="batches per optimizer step")
    run.add_argument("--map-weight", type=float, default=4.0, help="weight of the map losses")
    run.add_argument(
        "--seed", type=int, default=111, help="seed of the initial prompts and shuffling"
    )
    run.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps")
    run.add_argument("--workers", type=int, default=0, help="data loader worker processes")
    run.add_argument("--resume", action="store_true", help="continue from DIR's last checkpoint")
    run.add_argument(
        "--prompts",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="train the prompts (--no-prompts: only the adapters)",
    )
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    shape = prompts.add_argument_group("prompt model")
    defaults = LearnedPromptsConfig()
    shape.add_argument("--image-size", type=int, default=defaults.image_size, help="input side")
    shape.add_argument("--n-ctx", type=int, default=defaults.n_ctx, help="context tokens")
    shape.add_argument(
        "--text-depth", type=int, default=defaults.text_depth, help="text layers with tokens"
    )
    shape.add_argument(
        "--text-ctx", type=int, default=defaults.text_ctx, help="tokens per deep text layer"
    )
    shape.add_argument(
        "--dpam-layer", type=int, default=defaults.dpam_layer, help="DPAM in the top N-1 blocks"
    )
    shape.add_argument(
        "--feature-layers",
        type=int,
        nargs="+",
        default=list(defaults.feature_layers),
        metavar="N",
        help="vision blocks whose maps are summed",
    )
    shape.add_argument("--sigma", type=float, default=defaults.sigma, help="map smoothing (px)")
    shape.add_argument(
        "--feature-mode",
        choices=("independent", "aliased"),
        default=defaults.feature_mode,
        help="independent, or aliased (the authors' code before April 2025)",
    )
    lora = prompts.add_argument_group("adapters")
    lora.add_argument("--adapter", choices=("none", "lora"), default="none", help="adapter kind")
    lora.add_argument("--lora-rank", type=int, default=8, help="LoRA rank")
    lora.add_argument("--lora-alpha", type=float, default=16.0, help="LoRA scale numerator")
    lora.add_argument("--lora-dropout", type=float, default=0.0, help="LoRA dropout")
    lora.add_argument(
        "--lora-targets",
        nargs="+",
        default=["c_fc", "c_proj"],
        metavar="LAYER",
        help="layers of each block: c_fc, c_proj (MLP), attn",
    )
    lora.add_argument(
        "--lora-towers",
        nargs="+",
        default=["visual", "text"],
        metavar="TOWER",
        help="visual and/or text",
    )
    lora.add_argument(
        "--merge",
        action="store_true",
        help=f"also write DIR/{MERGED_FILE}: the CLIP with the adapters folded in, "
        "usable as --clip-weights without peft",
    )
    prompts.set_defaults(handler=run_train_prompts)
    declare_outputs(prompts, folders=("out",))


def _mixed_precision(precision: str, device: str) -> str:
    """The mixed precision of accelerate for a ``--precision`` value on a device."""
    if device == "cpu" or precision == "fp32":
        return "no"
    if precision in ("fp16", "bf16"):
        return precision
    import torch

    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def _read_records(args: argparse.Namespace, skipped: list[str]) -> list[Any]:
    from vlad.data.folder import read_folder
    from vlad.data.mvtec import read_mvtec
    from vlad.data.visa import read_visa
    from vlad.scoring.learned.dataset import training_records

    if args.format == "mvtec":
        records = read_mvtec(args.data, categories=args.categories)
    elif args.format == "visa":
        records = read_visa(args.data, categories=args.categories)
    else:
        if args.categories:
            raise ConfigError("--category goes with --format mvtec or visa, not folder.")
        records = read_folder(args.data, skipped=skipped)
    split = args.split or ("all" if args.format == "folder" else "test")
    splits = None if split == "all" else (split,)
    return training_records(records, splits=splits, skipped=skipped)


def run_train_prompts(args: argparse.Namespace) -> int:
    """Handle ``vlad train prompts``: train, save, print a summary; return the exit status."""
    import torch

    from vlad.config import ClipConfig
    from vlad.scoring.learned.adapters import LoraSettings
    from vlad.scoring.learned.config import LearnedPromptsConfig
    from vlad.scoring.learned.training import CHECKPOINTS, TrainingConfig
    from vlad.utils.device import resolve_device

    out: Path = args.out
    if not args.resume and (out / CHECKPOINTS).is_dir():
        raise ConfigError(
            f"--out '{out}' already holds a training run; pass --resume to continue it or "
            "choose another folder."
        )
    if not args.prompts and args.adapter == "none":
        raise ConfigError("--no-prompts leaves nothing to train; add --adapter lora.")
    if args.merge and args.adapter == "none":
        raise ConfigError("--merge folds adapters into the CLIP; add --adapter lora.")
    lora = None
    if args.adapter == "lora":
        lora = LoraSettings(
            rank=args.lora_rank,
            alpha=args.lora_alpha,
            dropout=args.lora_dropout,
            targets=tuple(args.lora_targets),
            towers=tuple(args.lora_towers),
        )
    model_config = LearnedPromptsConfig(
        n_ctx=args.n_ctx,
        text_depth=args.text_depth,
        text_ctx=args.text_ctx,
        dpam_layer=args.dpam_layer,
        feature_layers=tuple(args.feature_layers),
        sigma=args.sigma,
        image_size=args.image_size,
        feature_mode=args.feature_mode,
    )
    device = resolve_device(args.device)
    training = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        grad_accum=args.grad_accum,
        mixed_precision=_mixed_precision(args.precision, device),
        map_weight=args.map_weight,
        seed=args.seed,
        max_steps=args.max_steps,
        num_workers=args.workers,
        cpu=device == "cpu",
    )
    skipped: list[str] = []
    records = _read_records(args, skipped)
    weights = None if str(args.clip_weights).lower() == "none" else args.clip_weights
    clip = ClipConfig(arch=args.clip, weights=weights, device="cpu", precision="fp32")
    from vlad.encoders.clip import load_clip
    from vlad.scoring.learned.dataset import SegmentationDataset
    from vlad.scoring.learned.model import AnomalyClipModel

    encoder = load_clip(clip)
    torch.manual_seed(args.seed)  # the initial prompts
    model = AnomalyClipModel(encoder.model, encoder.tokenizer, model_config)
    if not args.prompts:
        for parameter in model.prompt_parameters():
            parameter.requires_grad_(False)
    if lora is not None:
        from vlad.scoring.learned.adapters import add_lora

        add_lora(model.clip, lora)
    dataset = SegmentationDataset(
        records, image_size=model_config.image_size, mean=encoder.mean.flatten().tolist(),
        std=encoder.std.flatten().tolist(),
    )  # fmt: skip
    summary = _train_and_save(args, model, dataset, encoder, model_config, training, lora)
    summary["skipped"] = len(skipped)
    if summary.get("main", True):
        summary.pop("main", None)
        if args.json:
            print(json.dumps(summary, ensure_ascii=False))
        else:
            print(_format_summary(summary))
    return 0


def _train_and_save(
    args: argparse.Namespace,
    model: Any,
    dataset: Any,
    encoder: Any,
    model_config: Any,
    training: Any,
    lora: Any,
) -> dict[str, Any]:
    from accelerate import Accelerator

    from vlad import __version__
    from vlad.scoring.learned.checkpoint import clip_fingerprint, save_prompts
    from vlad.scoring.learned.training import settings_record, train_prompts
    from vlad.utils.runinfo import utc_now

    fingerprint = clip_fingerprint(model.clip)
    settings = settings_record(
        clip=encoder.name,
        clip_fingerprint=fingerprint,
        prompts=model_config,
        train_prompts=bool(args.prompts),
        lora=lora,
    )
    accelerator = Accelerator(
        mixed_precision=training.mixed_precision,
        gradient_accumulation_steps=training.grad_accum,
        cpu=training.cpu,
    )
    started = utc_now()
    result = train_prompts(
        model,
        dataset,
        args.out,
        config=training,
        settings=settings,
        resume=args.resume,
        progress=not args.no_progress,
        accelerator=accelerator,
    )
    if not accelerator.is_main_process:
        return {"main": False}
    inner = accelerator.unwrap_model(model).to("cpu").float()
    provenance = {
        "data": str(args.data),
        "format": args.format,
        "categories": args.categories,
        "images": len(dataset),
        "anomalous": sum(1 for r in dataset.records if r.label == 1),
        "epochs": result.epochs,
        "steps": result.steps,
        "batch_size": training.batch_size,
        "grad_accum": training.grad_accum,
        "processes": accelerator.num_processes,
        "lr": training.lr,
        "mixed_precision": training.mixed_precision,
        "seed": training.seed,
        "final_loss": result.history[-1]["loss"] if result.history else None,
        "trained_prompts": bool(args.prompts),
        "adapter": None if lora is None else {"kind": "lora", **lora.to_json()},
        "vlad_version": __version__,
        "started": started,
        "ended": utc_now(),
    }
    written = save_prompts(
        args.out,
        inner,
        model_config,
        clip_name=encoder.name,
        clip_fingerprint=fingerprint,
        provenance=provenance,
    )
    files = [str(written), str(written.with_suffix(".json"))]
    if lora is not None:
        files.extend(_save_adapter(args, inner, lora, encoder.name))
    history = result.history
    return {
        "out": str(args.out),
        "images": len(dataset),
        "epochs": result.epochs,
        "steps": result.steps,
        "resumed_after_epoch": result.resumed_from,
        "first_loss": history[0]["loss"] if history else None,
        "last_loss": history[-1]["loss"] if history else None,
        "seconds": round(result.seconds, 2),
        "files": files,
    }


def _save_adapter(args: argparse.Namespace, model: Any, lora: Any, clip_name: str) -> list[str]:
    from safetensors.torch import save

    from vlad.scoring.learned.adapters import (
        CONFIG_FILE,
        VLAD_FILE,
        WEIGHTS_FILE,
        merge_lora,
        save_lora,
    )
    from vlad.utils.io import atomic_folder, atomic_write_bytes

    target = args.out / ADAPTER_DIR
    owned = (CONFIG_FILE, WEIGHTS_FILE, VLAD_FILE, "README.md")
    with atomic_folder(target, overwrite=True, owned=owned) as folder:
        save_lora(model.clip, folder, lora, clip_name=clip_name)
    files = [str(target)]
    if args.merge:
        merge_lora(model.clip)
        state = {k: v.detach().cpu().contiguous() for k, v in model.clip.state_dict().items()}
        files.append(str(atomic_write_bytes(args.out / MERGED_FILE, save(state))))
    return files


def _format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"trained on {summary['images']} images: {summary['epochs']} epochs, "
        f"{summary['steps']} steps in {summary['seconds']} s"
        + (
            f" (resumed after epoch {summary['resumed_after_epoch']})"
            if summary["resumed_after_epoch"]
            else ""
        ),
    ]
    if summary["first_loss"] is not None:
        lines.append(f"loss {summary['first_loss']:.4f} (epoch 1) -> {summary['last_loss']:.4f}")
    if summary["skipped"]:
        lines.append(f"{summary['skipped']} file(s) skipped (see the warnings above)")
    lines.extend(f"wrote {path}" for path in summary["files"])
    return "\n".join(lines)
