"""Input preparation: this project's pipeline against the reference skill's way, in one run.

    .venv/bin/python benchmarks/prep_bench.py            # writes benchmarks/results/prep.md

Baseline (the reference skill): Image.open -> thumbnail((1024, 1024), LANCZOS) -> convert("RGB")
-> JPEG quality 85, one image after another. Ours: compositions.images.prepare_image (JPEG
decoded at a reduced scale with `draft`, LANCZOS to 1024, orientation after the resize), the
images of a batch in parallel threads. Both make JPEG quality 85 at 1024 on the long side.

Batches: 14 photo-like JPEGs of 12 MP (4000x3000) and of 48 MP (8000x6000), generated here.
Speed: best of 5 runs per batch. Memory: peak RSS of a fresh process running one pipeline over
the 48 MP batch. Quality: PSNR of each output against a careful reference (full decode,
LANCZOS straight to the output size, in float), after JPEG encoding; the delta is ours minus
the baseline's. The last line is machine-readable.
"""

import io
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compositions.images import prepare_image  # noqa: E402

BATCH = 14
EDGE = 1024
QUALITY = 85
SIZES = {"12mp": (4000, 3000), "48mp": (8000, 6000)}


def make_photo(size, seed: int) -> Image.Image:
    """Photo-like: smooth light, large shapes, fine texture and sensor noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    small = rng.normal(128, 50, (h // 64 + 1, w // 64 + 1, 3)).clip(0, 255).astype(np.uint8)
    base = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = (0.7 + 0.3 * np.sin(xx / w * 3.1 + seed) * np.cos(yy / h * 2.3))[..., None]
    texture = (np.sin(xx / 3.7) * np.sin(yy / 4.3) * 12)[..., None]
    noise = rng.normal(0, 6, (h, w, 1)).astype(np.float32)
    return Image.fromarray((base * light + texture + noise).clip(0, 255).astype(np.uint8))


def generate(folder: Path, name: str, size) -> list[Path]:
    paths = []
    for i in range(BATCH):
        path = folder / f"{name}-{i:02d}.jpg"
        if not path.exists():
            make_photo(size, seed=i).save(path, "JPEG", quality=92)
        paths.append(path)
    return paths


def baseline_one(path: Path) -> bytes:
    img = Image.open(path)
    img.thumbnail((EDGE, EDGE), Image.Resampling.LANCZOS)
    img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=QUALITY)
    return buf.getvalue()


def ours_one(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return prepare_image(fh, edge=EDGE, quality=QUALITY).data


def baseline(paths):
    return [baseline_one(p) for p in paths]


def ours(paths):
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(ours_one, paths))


def best_time(fn, paths, runs=5) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        fn(paths)
        best = min(best, time.perf_counter() - started)
    return best


def psnr(encoded: bytes, reference: np.ndarray) -> float:
    out = np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"), np.float64)
    mse = np.mean((out - reference) ** 2)
    return 10 * np.log10(255**2 / mse)


def reference_for(path: Path, size) -> np.ndarray:
    img = Image.open(path)
    img.load()  # full resolution, no draft
    arr = np.asarray(img.convert("RGB"), np.float32)
    channels = [
        np.asarray(
            Image.fromarray(arr[..., c], "F").resize(size, Image.Resampling.LANCZOS), np.float64
        )
        for c in range(3)
    ]
    return np.clip(np.stack(channels, axis=-1), 0, 255)


def peak_rss(pipeline: str, paths) -> int:
    """Peak RSS (KiB) of a fresh process that runs one pipeline over `paths`."""
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        "import json, re; from benchmarks.prep_bench import baseline, ours; "
        f"{pipeline}({json.dumps([str(p) for p in paths])}); "
        # VmHWM, not ru_maxrss: the latter carries the forking parent's peak across exec.
        "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def main():
    folder = Path(os.environ.get("PREP_BENCH_DIR") or tempfile.mkdtemp(prefix="prep-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    report = {"cpus": os.cpu_count(), "pillow": Image.__version__, "batches": {}}
    speedups, deltas = {}, []
    for name, size in SIZES.items():
        paths = generate(folder, name, size)
        base_out, ours_out = baseline(paths), ours(paths)
        t_base, t_ours = best_time(baseline, paths), best_time(ours, paths)
        sample = paths[:4]  # PSNR on a sample: the full-resolution reference is slow
        psnr_base, psnr_ours = [], []
        for path, b, o in zip(sample, base_out, ours_out, strict=False):
            out_size = Image.open(io.BytesIO(b)).size
            assert Image.open(io.BytesIO(o)).size == out_size, "both make the same size"
            ref = reference_for(path, out_size)
            psnr_base.append(psnr(b, ref))
            psnr_ours.append(psnr(o, ref))
        delta = float(np.mean(psnr_ours) - np.mean(psnr_base))
        deltas.append(delta)
        speedups[name] = t_base / t_ours
        report["batches"][name] = {
            "images": len(paths),
            "pixels": f"{size[0]}x{size[1]}",
            "baseline_seconds": round(t_base, 3),
            "ours_seconds": round(t_ours, 3),
            "speedup": round(t_base / t_ours, 2),
            "psnr_baseline_db": round(float(np.mean(psnr_base)), 2),
            "psnr_ours_db": round(float(np.mean(psnr_ours)), 2),
            "psnr_delta_db": round(delta, 2),
        }
    big = generate(folder, "48mp", SIZES["48mp"])
    rss_base, rss_ours = peak_rss("baseline", big), peak_rss("ours", big)
    report["peak_rss_kib"] = {"baseline": rss_base, "ours": rss_ours}
    rss_ratio = rss_ours / rss_base
    worst_delta = min(deltas)
    line = (
        f"prep_speedup_12mp={speedups['12mp']:.2f} prep_speedup_48mp={speedups['48mp']:.2f} "
        f"rss_ratio={rss_ratio:.2f} psnr_delta_db={worst_delta:+.2f}"
    )
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "prep.json").write_text(json.dumps(report, indent=2) + "\n")
    (results / "prep.md").write_text(
        "# Input preparation benchmark (latest run)\n\n"
        f"Command: `.venv/bin/python benchmarks/prep_bench.py` on {report['cpus']} CPUs, "
        f"Pillow {report['pillow']}. Details in `prep.json`.\n\n"
        "| batch | baseline s | ours s | speedup | PSNR baseline | PSNR ours | delta dB |\n"
        "|---|---|---|---|---|---|---|\n"
        + "".join(
            f"| {k} | {v['baseline_seconds']} | {v['ours_seconds']} | {v['speedup']}x | "
            f"{v['psnr_baseline_db']} | {v['psnr_ours_db']} | {v['psnr_delta_db']:+} |\n"
            for k, v in report["batches"].items()
        )
        + f"\nPeak RSS over the 48 MP batch: baseline {rss_base} KiB, ours {rss_ours} KiB.\n\n"
        f"```\n{line}\n```\n"
    )
    print(json.dumps(report, indent=2))
    print(line)


if __name__ == "__main__":
    main()
