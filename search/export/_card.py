"""``model_card.md``: what the exported network is, what it costs, how well and how it was trained, how to use it."""

from __future__ import annotations

from typing import Any

from evaluators.data import EVAL_CROP_FRACTION, IMAGENET_MEAN, IMAGENET_STD
from evaluators.presets import PRESETS
from space import Genome, cost_of

from ._sources import Trained

FULL_RECIPE = "python -m evaluators.train genome.json --fidelity full --data imagefolder:PATH --save DIR"


def model_card(trained: Trained, image_size: int, onnx: dict[str, Any] | None, folder_files: list[str]) -> str:
    genome, facts = trained.genome, trained.facts
    cost = cost_of(genome)
    lines = [f"# effcnn genome {genome.id}", "",
             f"An inverted-residual CNN found by effcnn-nas: {len(genome.stages)} stages, "
             f"{sum(s.repeats for s in genome.stages)} blocks, {genome.num_classes} classes. "
             f"Weights from {trained.origin}.", "",
             "## Architecture", "",
             f"Stem {genome.stem_kernel}x{genome.stem_kernel} conv to {genome.stem_channels} channels "
             f"(stride {genome.stem_stride}), head 1x1 conv to {genome.head_channels}, average pool, "
             f"linear classifier. Stages as block strings:", "", "```"]
    lines += [stage.encode() for stage in genome.stages]
    lines += ["```", "", "## Cost", "",
              f"- MACs: {cost.total_macs:,} at {genome.resolution}x{genome.resolution}, batch 1 (every multiply "
              "of the convolutions, SE layers, CondConv routing and kernel mixing, and the classifier)"
              + _macs_at(genome, image_size),
              f"- Parameters: {cost.total_params:,}; filter coefficients: {cost.total_filter_coefficients:,}",
              f"- Latency: {_latency(facts)}", "", "## Accuracy", ""]
    lines += _accuracy(facts)
    lines += ["", "## Train it with the paper's full recipe", "",
              "From this folder, on ImageNet-100 (or any image folder with train/ and val/ class folders), on a GPU:",
              "", "```bash", FULL_RECIPE,
              "python -m search.export --genome DIR/genome.json --weights DIR/best.safetensors --out EXPORT --onnx",
              "```", "",
              _full_recipe(), "",
              "## Use it", "",
              f"Input: RGB images, resized to {int(round(image_size / EVAL_CROP_FRACTION))} px and centre-cropped "
              f"to {image_size} px, scaled to [0, 1] and normalised with mean {IMAGENET_MEAN} and std "
              f"{IMAGENET_STD}. Output: logits, one per class.", "",
              "```python", "import timm", "import space  # registers the effcnn models with timm", "",
              'model = timm.create_model("local-dir:PATH/TO/THIS/FOLDER", pretrained=True).eval()',
              "# or: timm.create_model(\"effcnn_genome\", genome=\"genome.json\", pretrained=True,",
              "#                        pretrained_cfg_overlay=dict(file=\"model.safetensors\"))", "```", ""]
    if onnx:
        lines += ["## ONNX", "",
                  f"`model.onnx`: opset {onnx['opset']}, input `{onnx['input']}` (batch, 3, {image_size}, "
                  f"{image_size}) float32 with a dynamic batch dimension, output `{onnx['output']}` (batch, "
                  f"{genome.num_classes}). onnxruntime matches PyTorch to {onnx['max_difference']:.2g} (largest "
                  f"absolute logit difference, fp32, for logits up to {onnx['largest_logit']:.3g}, on random "
                  f"images at batch {' and '.join(map(str, onnx['batches']))}).",
                  ""]
    lines += ["## Files", ""] + [f"- `{name}`" for name in folder_files] + [""]
    return "\n".join(lines)


def _macs_at(genome: Genome, image_size: int) -> str:
    if image_size == genome.resolution:
        return ""
    try:
        macs = cost_of(genome.replace(resolution=image_size)).total_macs
    except ValueError:
        return ""
    return f"; {macs:,} at {image_size}x{image_size}, the input these weights were trained and evaluated at"


def _full_recipe() -> str:
    full = PRESETS["full"]
    return (f"The full recipe: {full.epochs} epochs ({full.warmup_epochs:g} warm-up), SGD with "
            f"{'Nesterov ' if full.nesterov else ''}momentum {full.momentum}, learning rate "
            f"{full.lr * full.lr_start_factor:g} -> {full.lr:g} -> {full.lr * full.lr_final_factor:g} (cosine), "
            f"weight decay {full.weight_decay:g}, batch {full.batch_size}, {full.crop} px random-resized crops and "
            "flips; `--show-fidelity` prints every setting, `--save` keeps the last and the best weights.")


def _latency(facts: dict[str, Any]) -> str:
    measured = {key: value for key, value in facts.items() if key.startswith("latency")}
    if not measured:
        return "not measured for these weights"
    return ", ".join(f"{key}: {value}" for key, value in sorted(measured.items()))


def _accuracy(facts: dict[str, Any]) -> list[str]:
    if "top1" not in facts and "accuracy" not in facts:
        return ["Not known: the weights carry no record of their training."]
    recipe = facts.get("recipe") or {}
    where = f"on `{facts.get('data', 'unknown data')}`"
    fidelity = facts.get("fidelity", recipe.get("name", "unknown"))
    seed_text = f"1 seed ({facts['seed']})" if "seed" in facts else "seed not recorded"
    lines = []
    if "top1" in facts:
        lines.append(f"- These weights: {facts['top1']:.2f}% top-1 on the validation split after epoch "
                     f"{facts.get('epoch', -1) + 1}.")
    if "accuracy" in facts:
        best = (f"; best {facts['best_accuracy']:.2f}% after epoch {facts['best_epoch'] + 1}"
                if "best_accuracy" in facts and "best_epoch" in facts else "")
        lines.append(f"- The run: {facts['accuracy']:.2f}% top-1 at its end{best}.")
    lines.append(f"- Trained {where} at fidelity `{fidelity}`, {seed_text}"
                 + ("; one seed is an anecdote, not a comparison." if "seed" in facts else "."))
    confirmed = facts.get("confirmed")
    if confirmed:
        lines.append(f"- Confirmed: {confirmed['mean']:.2f}% ± {confirmed['sd']:.2f} (mean ± SD) top-1 over "
                     f"{confirmed['n']} fresh seeds ({confirmed['seeds']}) at fidelity `{confirmed['fidelity']}` "
                     "(`search.confirm`).")
    if recipe:
        lines.append("- Recipe: " + ", ".join(f"{key} {value}" for key, value in recipe.items() if key != "name") + ".")
    if fidelity != "full":
        lines.append(f"- `{fidelity}` is a cheap proxy for ranking genomes, not a finished training: train with "
                     "the full recipe below before using these weights.")
    return lines
