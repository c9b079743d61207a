"""The local compositor's operations on 12-megapixel photos: how long each takes.

    .venv/bin/python benchmarks/local_ops_bench.py      # writes benchmarks/results/local_ops.md

Inputs: the sample photos scaled up to 12 MP (4000x3000, or 4000 on the long side), as a worker
would get them if preparation let them through unreduced (it reduces to 2048 for the local
compositor; this measures the worse case). Best of 3 runs per operation; the last line is
machine-readable (seconds).
"""

import io
import os
import random
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compositions.providers.local import (  # noqa: E402
    find_subject,
    place_logo,
    place_subjects,
    transfer_style,
)

OUTPUT = (1024, 1024)


def twelve_mp(name: str) -> Image.Image:
    img = Image.open(ROOT / "samples" / name)
    img.load()
    scale = 4000 / max(img.size)
    size = (round(img.width * scale), round(img.height * scale))
    big = img.convert("RGBA" if "A" in img.getbands() else "RGB").resize(size, Image.BICUBIC)
    buf = io.BytesIO()  # through PNG and back, as the worker decodes its inputs
    big.save(buf, "PNG", compress_level=1)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGBA")


def best_of(runs: int, work) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    coffee, astronaut = twelve_mp("coffee.png"), twelve_mp("astronaut.png")
    rocket, logo = twelve_mp("rocket.jpg"), twelve_mp("logo.png")
    rng = random.Random(1)
    rows = {
        "cut-out (GrabCut), coffee 12 MP": lambda: find_subject(coffee),
        "cut-out (GrabCut), astronaut 12 MP": lambda: find_subject(astronaut),
        "product in scene, 1024 output": lambda: place_subjects([coffee], rocket, OUTPUT, rng),
        "logo on the product, 1024 output": lambda: place_logo(coffee, logo, OUTPUT, rng),
        "style transfer (Lab), 1024 output": lambda: transfer_style(coffee, rocket, OUTPUT, rng),
    }
    results = {name: best_of(3, work) for name, work in rows.items()}
    lines = ["| operation | seconds (best of 3) |", "|---|---|"]
    lines += [f"| {name} | {seconds:.2f} |" for name, seconds in results.items()]
    machine = " ".join(
        f"{key}={seconds:.2f}"
        for key, seconds in zip(
            ("cut_coffee", "cut_astronaut", "place", "logo", "style"),
            results.values(),
            strict=True,
        )
    )
    # The machine's load changes these numbers several-fold; say what it was.
    load = f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores."
    text = "\n".join(lines) + f"\n\n{load}\n\n" + machine + "\n"
    (ROOT / "benchmarks" / "results" / "local_ops.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
