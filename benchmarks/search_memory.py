"""Memory of the decoded images held by several processes of one machine, and peak memory of a short search
with 1 and with N concurrent trials, on a generated ImageFolder set.

    python benchmarks/search_memory.py [--images 20000] [--concurrency 1 4] [--trials 4] [--fraction 0.02]
                                       [--folder DIR] [--code DIR]

Writes an ImageFolder of 64x64 PNGs (``--images`` training images and a tenth as many for validation) from
the built-in synthetic generator (its 40 classes, the most it draws) and decodes it once into the data cache.

1. Loaders: N processes each load the data set and read every image, as N concurrent trials that train on all
   of it would: once as ``load_data`` does (mapping the cache file), once reading the file into each process
   (``torch.load`` without ``mmap``, as before). It prints the summed PSS (each shared page split between the
   processes that map it: the honest total) and RSS (shared pages counted once per process) of the N processes.
2. Searches: ``python -m search.run`` at smoke fidelity (``--fraction`` of the training images per trial) with
   each concurrency in turn on a local Ray cluster, sampling every process of the run's tree (the driver, Ray's
   services, the trial processes) once a second: the peak summed PSS and RSS, and for the cache file alone the
   RSS and PSS its mappings hold summed over the processes. ``--code`` runs another checkout's ``search.run``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from evaluators.arguments import check_folder, finite_float, positive_int, refuse  # noqa: E402
from evaluators.data import MAX_SYNTHETIC_CLASSES, load_data, make_synthetic  # noqa: E402

KIB = 1024


def write_image_folder(root: Path, images: int, classes: int, seed: int = 0, chunk: int = 2000) -> None:
    """``images`` training and ``images // 10`` validation PNGs in ``root/{train,val}/<class>/``; kept if there."""
    from PIL import Image

    if (root / "done").exists():
        return
    per_class = {"train": images // classes, "val": max(1, images // 10 // classes)}
    for split, count in per_class.items():
        written = 0
        for start in range(0, count, chunk // classes):
            batch = min(chunk // classes, count - start)
            pixels, labels, _, _, names = make_synthetic(classes, batch, 0, 64, seed + start + (split == "val") * 10**6)
            for index, (image, label) in enumerate(zip(pixels.permute(0, 2, 3, 1).numpy(), labels.tolist())):
                folder = root / split / names[label]
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(folder / f"{written + index:06d}.png")
            written += len(labels)
    (root / "done").write_text("complete\n")


def tree(root: int) -> list[int]:
    """``root`` and every process descended from it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def memory(pid: int, cache_file: str) -> tuple[int, int, int, int]:
    """(RSS, PSS) of the whole process and (RSS, PSS) of its mappings of ``cache_file``, in bytes."""
    totals = {"Rss:": 0, "Pss:": 0}
    cache = {"Rss:": 0, "Pss:": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, *value = line.split()
            if key in totals:
                totals[key] = int(value[0]) * KIB
        in_cache = False
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            fields = line.split()
            if fields and "-" in fields[0] and len(fields) >= 5 and not fields[0].endswith(":"):
                in_cache = fields[-1] == cache_file
            elif in_cache and fields and fields[0] in cache:
                cache[fields[0]] += int(fields[1]) * KIB
    except OSError:  # the process ended while it was read
        return 0, 0, 0, 0
    return totals["Rss:"], totals["Pss:"], cache["Rss:"], cache["Pss:"]


def loaders(cache_file: str, count: int, mapped: bool, env: dict[str, str]) -> tuple[int, int]:
    """Summed (RSS, PSS) of ``count`` processes that each hold the cached images and have read every one."""
    code = ("import sys, torch\n"
            f"stored = torch.load({cache_file!r}, map_location='cpu', weights_only=True, mmap={mapped})\n"
            "total = sum(int(stored[key].sum()) for key in ('train_images', 'val_images'))\n"
            "print('ready', total, flush=True)\n"
            "sys.stdin.read()\n")
    processes = [subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True) for _ in range(count)]
    try:
        for process in processes:
            if not process.stdout.readline().startswith("ready"):
                raise SystemExit("a loader failed")
        return tuple(sum(values) for values in zip(*(memory(p.pid, cache_file)[:2] for p in processes)))
    finally:
        for process in processes:
            process.stdin.close()
            process.wait()


def measure(command: list[str], env: dict[str, str], cache_file: str, every: float = 1.0) -> dict[str, float]:
    """Run ``command`` and sample its process tree's memory until it ends; the peaks, and its wall time."""
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peaks = {"rss": 0, "pss": 0, "cache_rss": 0, "cache_pss": 0, "processes": 0}
    while process.poll() is None:
        pids = tree(process.pid)
        sums = [sum(values) for values in zip(*(memory(pid, cache_file) for pid in pids))]
        for key, value in zip(("rss", "pss", "cache_rss", "cache_pss"), sums):
            peaks[key] = max(peaks[key], value)
        peaks["processes"] = max(peaks["processes"], len(pids))
        time.sleep(every)
    output = process.stdout.read()
    if process.returncode != 0:
        raise SystemExit(f"search.run failed ({process.returncode}):\n{output[-3000:]}")
    return {**peaks, "seconds": time.monotonic() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=image_count, default=20_000,
                        help=f"training images, at least one per class ({MAX_SYNTHETIC_CLASSES}) (default 20,000)")
    parser.add_argument("--concurrency", type=positive_int, nargs="+", default=[1, 4],
                        help="trials at once (default 1 4)")
    parser.add_argument("--trials", type=positive_int, default=4, help="trials per search (default 4)")
    parser.add_argument("--fraction", type=fraction, default=0.02,
                        help="share of the training images each search trial trains on, in (0, 1] (default 0.02)")
    parser.add_argument("--folder", default=None, help="where the ImageFolder goes, kept (default: a temporary folder)")
    parser.add_argument("--code", default=str(REPOSITORY), help="the checkout whose search.run runs (default this one)")
    args = parser.parse_args(argv)
    try:
        check_folder("--folder", args.folder)
    except ValueError as error:
        refuse(parser, error, args)
    if not (Path(args.code) / "search" / "run.py").is_file():
        parser.exit(2, f"error: --code: must be a checkout holding search/run.py, got {args.code}\n")
    work = Path(tempfile.mkdtemp(prefix="search-memory-"))
    root = Path(args.folder) if args.folder else work / "images"
    classes = MAX_SYNTHETIC_CLASSES
    started = time.monotonic()
    write_image_folder(root, args.images, classes)
    print(f"image folder: {root}, {args.images:,} train + {args.images // 10:,} val 64x64 PNGs, {classes} classes "
          f"(written in {time.monotonic() - started:.0f}s)")
    env = {**os.environ, "EFFCNN_CACHE": str(work / "cache"), "RAY_USAGE_STATS_ENABLED": "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(args.code).resolve()), os.environ.get("PYTHONPATH")]))}
    started = time.monotonic()
    data = load_data(f"imagefolder:{root}", cache_dir=work / "cache")
    cache_file = str(next((work / "cache").glob("imagefolder-*.pt")))
    print(f"decoded cache: {Path(cache_file).stat().st_size / 2**20:.0f} MiB, {len(data.train_labels):,} + "
          f"{len(data.val_labels):,} images (decoded in {time.monotonic() - started:.0f}s)")
    count = max(args.concurrency)
    for mapped in (True, False):
        rss, pss = loaders(cache_file, count, mapped, env)
        how = "mapping the cache file (load_data)" if mapped else "each reading the file into memory (as before)"
        print(f"{count} processes holding every image, {how}: PSS {pss / 2**20:,.0f} MiB, RSS {rss / 2**20:,.0f} MiB")
    print(f"search.run of {Path(args.code).resolve()}")
    cpus = os.cpu_count() or 1
    try:
        _searches(args, root, work, env, cache_file, cpus)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def image_count(text: str) -> int:
    """Training images: the ImageFolder needs one of each class at least (``images // classes`` per class)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < MAX_SYNTHETIC_CLASSES:
        raise argparse.ArgumentTypeError(f"must be an integer >= {MAX_SYNTHETIC_CLASSES} (one image per class), "
                                         f"got {text!r}")
    return value


def fraction(text: str) -> float:
    value = finite_float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}")
    return value


def _searches(args: argparse.Namespace, root: Path, work: Path, env: dict[str, str], cache_file: str, cpus: int
              ) -> None:
    for concurrent in args.concurrency:
        command = [sys.executable, "-m", "search.run", "--data", f"imagefolder:{root}", "--fidelity", "smoke",
                   "--data-fraction", f"{args.fraction:g}",
                   "--budget", str(args.trials), "--baseline-seeds", "1", "--max-concurrent", str(concurrent),
                   "--cpus-per-trial", f"{min(1.0, cpus / concurrent):g}", "--keep-weights", "none",
                   "--results-dir", str(work / "results"), "--study-name", f"memory-{concurrent}"]
        peaks = measure(command, env, cache_file)
        print(f"{concurrent} concurrent: {args.trials} trials in {peaks['seconds']:.0f}s, up to {peaks['processes']} "
              f"processes; peak PSS {peaks['pss'] / 2**20:,.0f} MiB, peak RSS {peaks['rss'] / 2**20:,.0f} MiB; the "
              f"cache file's mappings: RSS {peaks['cache_rss'] / 2**20:,.0f} MiB summed over processes, PSS "
              f"{peaks['cache_pss'] / 2**20:,.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())
