#!/usr/bin/env python3
"""Export a timm image classifier to ONNX for apsql's LABEL statement.

Writes, into --out (default: the current directory):
  NAME.onnx         input "input" float32 [N,3,H,W], output "logits" [N,K]
  NAME.json         the model's preprocessing (timm's data config) that apsql
                    reads beside the model: input_size, interpolation,
                    crop_pct, crop_mode, mean, std, plus "output": "logits"
                    and, when the model does not predict the 1000 ImageNet-1k
                    classes, "labels": "NAME.labels.tsv"
  NAME.labels.tsv   class list (index, synset, name), only when needed

Usage:
  pip install timm torch onnx            # onnxruntime too for --check
  python scripts/export_timm.py edgenext_small.usi_in1k --out models
  apsql -c "LABEL 'photos' INTO 'labeled' USING 'models/edgenext_small.usi_in1k.onnx'"

Options:
  --random      random weights (no download; for speed tests only)
  --opset N     ONNX opset (default 17)
  --check       compare ONNX Runtime's output with PyTorch's on random input

Python is needed only to export; apsql runs the model without it.
"""

import argparse
import json
import os
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="timm model name, e.g. edgenext_small.usi_in1k")
    p.add_argument("--out", default=".", help="output directory (default: .)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--random", action="store_true", help="random weights, no download")
    p.add_argument("--check", action="store_true", help="verify with onnxruntime")
    return p.parse_args()


def labels_rows(model, num_classes):
    """Class rows (index, synset, name) for a model, via timm's ImageNetInfo.

    Returns None for the standard ImageNet-1k classes, which apsql ships.
    """
    import timm.data

    if num_classes == 1000:
        return None
    # Hub models fine-tuned on other data carry their class names.
    names = (getattr(model, "pretrained_cfg", None) or {}).get("label_names")
    if names and len(names) == num_classes:
        return [(i, "", str(n).replace(" ", "_")) for i, n in enumerate(names)]
    try:
        subset = timm.data.infer_imagenet_subset(model)
        info = timm.data.ImageNetInfo(subset) if subset else None
    except (AttributeError, ValueError):
        info = None
    if info is None or info.num_classes() != num_classes:
        sys.exit(
            f"export_timm: {num_classes} classes and no ImageNet subset timm knows; "
            "write a labels file yourself (one name per line, or a TSV with the "
            "header index, synset, name) and set \"labels\" in the JSON"
        )
    rows = []
    for i in range(num_classes):
        synset = info.index_to_label_name(i)
        # Descriptions look like "tench, Tinca tinca": keep the first name,
        # with underscores as in apsql's ImageNet list.
        name = info.index_to_description(i).split(",")[0].strip().replace(" ", "_")
        rows.append((i, synset, name))
    return rows


def main():
    args = parse_args()
    import torch
    import timm
    import timm.data

    model = timm.create_model(args.model, pretrained=not args.random, exportable=True)
    model.eval()
    cfg = timm.data.resolve_data_config({}, model=model)
    safe = args.model.replace("/", "_").replace(":", "_")
    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, safe + ".onnx")
    json_path = os.path.join(args.out, safe + ".json")

    dummy = torch.randn(2, *cfg["input_size"])
    export_kwargs = dict(
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        opset_version=args.opset,
    )
    with torch.no_grad():
        try:
            # The TorchScript exporter handles dynamic_axes for every timm model.
            torch.onnx.export(model, dummy, onnx_path, dynamo=False, **export_kwargs)
        except TypeError:  # torch < 2.5 has no dynamo argument
            torch.onnx.export(model, dummy, onnx_path, **export_kwargs)

    meta = {
        "model": args.model,
        "input_size": list(cfg["input_size"]),
        "interpolation": cfg["interpolation"],
        "crop_pct": cfg["crop_pct"],
        "crop_mode": cfg.get("crop_mode", "center"),
        "mean": list(cfg["mean"]),
        "std": list(cfg["std"]),
        "output": "logits",
    }
    rows = labels_rows(model, model.num_classes)
    if rows is not None:
        labels_path = os.path.join(args.out, safe + ".labels.tsv")
        with open(labels_path, "w", encoding="utf-8") as f:
            f.write("index\tsynset\tname\n")
            for i, synset, name in rows:
                f.write(f"{i}\t{synset}\t{name}\n")
        meta["labels"] = os.path.basename(labels_path)
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")

    if args.check:
        import numpy as np
        import onnxruntime as ort

        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        got = sess.run(None, {"input": dummy.numpy()})[0]
        with torch.no_grad():
            want = model(dummy).numpy()
        diff = float(np.max(np.abs(got - want)))
        print(f"export_timm: max |onnx - torch| = {diff:.2e}", file=sys.stderr)
        if diff > 1e-3:
            sys.exit("export_timm: ONNX output differs from PyTorch's; try another --opset")

    print(onnx_path)


if __name__ == "__main__":
    main()
