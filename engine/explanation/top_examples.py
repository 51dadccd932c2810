"""The top 9: the inputs that excite a channel most, and the patch each one's strongest
unit sees, as the Deep Visualization Toolbox shows them.

- ``scan_folder``: the images of a folder that can be read (the first ``MAX_IMAGES`` by
  name), read once so a search need not fail half way.
- ``find_top``: the nine inputs of the MNIST test digits the app ships, or of a scanned
  folder, that excite a channel most (``featurevis.top_examples``), each with its patch
  (``featurevis.example_crop``).

The "What it wants" tab runs these on the model thread; so can the command line.
TensorFlow is imported only when a search runs on a Keras model (an ONNX model's runs on
ONNX Runtime).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.explanation import featurevis
from engine.util.progress import CancelCheck, ProgressCallback, never_cancelled, no_progress

if TYPE_CHECKING:
    from engine.models.zoo import LoadedModel

#: Files a folder source reads, and how many of them at most (the first, by name).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_IMAGES = 500
#: The source that searches the MNIST test digits the app ships (else a folder).
MNIST_SOURCE = "mnist"
#: How many inputs a search keeps.
TOP_K = 9


@dataclass(frozen=True)
class TopItem:
    """One of the inputs that excite a channel most: its value, name and patch."""

    index: int
    value: float
    name: str
    crop: np.ndarray  # (h, w, 3) uint8: what the strongest unit sees
    box: tuple[int, int, int, int]  # of that crop, in ``pixels``
    pixels: np.ndarray  # the image to make the current input
    digit: bool  # an MNIST digit (opened as a digit) or a file
    label: str = ""  # a short name under the patch


@dataclass(frozen=True)
class TopResult:
    """A search's result: ``items`` best first, ``searched`` inputs looked at.

    ``source`` is ``MNIST_SOURCE`` or the folder searched (its path as a string);
    ``description`` says what was searched ("the 500 MNIST test digits the app ships",
    "12 images in 'photos'"); ``notes`` what a person should know (skipped files, a cap).
    """

    layer: str
    channel: int
    source: str
    items: list[TopItem]
    searched: int
    description: str
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FolderScan:
    """The images of a folder that can be read (the first ``MAX_IMAGES`` by name)."""

    folder: Path
    stamp: float  # the folder's modification time when scanned: files came or went since?
    paths: list[Path]
    unreadable: list[tuple[str, str]]  # (file name, why)
    found: int  # image files in the folder (more than read when capped)


def scan_folder(folder: Path, progress: ProgressCallback = no_progress) -> FolderScan:
    """Read every image file of ``folder`` once to know which ones can be read.

    Raises ValueError when ``folder`` is not a folder or cannot be listed. ``progress``
    goes from 0 to 0.3 (the search that follows takes the rest).
    """
    from engine.imaging.images import load_image

    if not folder.is_dir():
        raise ValueError(f"'{folder}' is not a folder (moved or deleted?)")
    try:
        files = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
            key=lambda p: p.name.lower(),
        )
    except OSError as exc:
        raise ValueError(f"the folder '{folder}' cannot be read: {exc}") from exc
    found = len(files)
    files = files[:MAX_IMAGES]
    readable, unreadable = [], []
    for i, p in enumerate(files):
        progress(0.3 * i / max(len(files), 1), f"checking image {i + 1} of {len(files)}")
        try:
            load_image(p)
        except ValueError as exc:  # ImageLoadError: its message says why
            unreadable.append((p.name, str(exc)))
            continue
        readable.append(p)
    return FolderScan(folder, folder.stat().st_mtime, readable, unreadable, found)


def crop_box_to(box: tuple[int, int, int, int], pixels: np.ndarray) -> np.ndarray:
    """The (top, left, bottom, right) ``box`` of ``pixels`` as (h, w, 3) uint8; at least
    one pixel (the whole image when the box is empty).

    >>> crop_box_to((1, 1, 3, 4), np.arange(20, dtype=np.uint8).reshape(4, 5)).shape
    (2, 3, 3)
    """
    top, left, bottom, right = box
    crop = pixels[top : max(bottom, top + 1), left : max(right, left + 1)]
    if crop.size == 0 or min(crop.shape[:2]) < 1:
        crop = pixels
    a = np.asarray(crop, np.uint8)
    return np.repeat(a[:, :, None], 3, axis=2) if a.ndim == 2 else a


def find_top(
    loaded: LoadedModel,
    layer: str,
    channel: int,
    scan: FolderScan | None = None,
    progress: ProgressCallback = no_progress,
    cancelled: CancelCheck = never_cancelled,
) -> TopResult:
    """The ``TOP_K`` inputs that excite ``channel`` of ``layer`` most, best first, with the
    patch each one's strongest unit sees.

    Parameters
    ----------
    loaded : LoadedModel
        A Keras or an ONNX model (``OnnxLoadedModel``: forward passes by ONNX Runtime).
    layer : str
        A layer with spatial maps.
    channel : int
    scan : FolderScan, optional
        The folder to search (``scan_folder``); None: the MNIST test digits the app ships.
    progress : callable
        ``progress(fraction, message)``; a folder's search starts at 0.3 (after its scan).
    cancelled : callable
        Checked between batches: ``InterruptedError("cancelled")``.

    Returns
    -------
    TopResult
        Raises ValueError when the folder holds no readable image.
    """
    from engine.imaging.display import input_to_pixels
    from engine.imaging.images import load_image
    from engine.inspection.activations import input_shape_of

    spec = loaded.spec
    fixed = None not in input_shape_of(loaded.model)[:2]  # a Keras or an ONNX model

    def run(images: Any, prepare: Any, start: float, batch: int) -> list[featurevis.Example]:
        def part(fraction: float, message: str) -> None:
            progress(start + (1 - start) * fraction, message)

        return featurevis.top_examples(
            loaded,
            layer,
            channel,
            images,
            k=TOP_K,
            batch_size=batch,
            prepare=prepare,
            progress=part,
            cancelled=cancelled,
        )

    def patch_of_input(x: np.ndarray, e: featurevis.Example) -> tuple[np.ndarray, Any]:
        pixels = input_to_pixels(x, spec.scaling)
        box = featurevis.example_crop(x.shape[:2], loaded, layer, e.row, e.col)
        return pixels, box

    items: list[TopItem] = []
    notes: list[str] = []
    if scan is None:
        from engine.models.mnist_data import bundled_test_digits

        digits, labels = bundled_test_digits()
        xs = loaded.prepare_digits(digits)
        for e in run(xs, None, 0.0, 64):
            pixels, box = patch_of_input(xs[e.index], e)
            name = f"test digit #{e.index} (a {labels[e.index]})"
            crop = crop_box_to(box, pixels)
            short = f"#{e.index} ({labels[e.index]})"
            items.append(TopItem(e.index, e.value, name, crop, box, digits[e.index], True, short))
        what = "the 500 MNIST test digits the app ships"
        return TopResult(layer, channel, MNIST_SOURCE, items, len(digits), what)
    if not scan.paths:
        raise ValueError(
            f"no readable images ({', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES)}) in "
            f"'{scan.folder}'"
        )
    # Images of different sizes cannot share a batch for a model that takes any size.
    examples = run(scan.paths, lambda p: loaded.prepare(load_image(p)), 0.3, 32 if fixed else 1)
    for e in examples:
        path = scan.paths[e.index]
        photo = load_image(path)
        if fixed and not spec.digit:
            box = featurevis.example_crop(photo, loaded, layer, e.row, e.col)
            pixels = photo
        else:  # the model sees a prepared digit, or a resized photo: crop what it sees
            pixels, box = patch_of_input(loaded.prepare(photo), e)
        items.append(
            TopItem(
                e.index, e.value, path.name, crop_box_to(box, pixels), box, photo, False, path.name
            )
        )
    if scan.unreadable:
        names = ", ".join(f"{n} ({why})" for n, why in scan.unreadable[:3])
        more = "" if len(scan.unreadable) <= 3 else f" and {len(scan.unreadable) - 3} more"
        notes.append(
            f"{len(scan.unreadable)} of {len(scan.unreadable) + len(scan.paths)} files could "
            f"not be read and were skipped: {names}{more}."
        )
    if scan.found > MAX_IMAGES:
        notes.append(
            f"Only the first {MAX_IMAGES} of the folder's {scan.found} images (by name) were "
            "searched."
        )
    what = f"{len(scan.paths)} images in '{scan.folder.name}'"
    return TopResult(layer, channel, str(scan.folder), items, len(scan.paths), what, notes)
