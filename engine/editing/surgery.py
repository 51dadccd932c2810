"""Change a trained model and watch: set, scale and switch off filters; measure the result.

- ``ModelEditor(model)`` edits a *copy* of a model in place: put a hand-made kernel into
  a conv layer (``set_filter``), scale an output channel (``scale``), switch channels off
  (``ablate``), undo (``revert``), save the result (``save``). The copy's variables are
  assigned in place, so a compiled call that reads them (``ActivationProbe``,
  ``DigitClassifier``) sees an edit at its next call, with no rebuild and no retracing.
- ``evaluate(model, x, y)``: accuracy, confusion matrix, the test set's mistakes.
- Channel triage for wide layers: ``channel_stats`` (per-channel mean and maximum of one
  activation), ``dead_fraction`` (how often a channel's map is all zero),
  ``ablation_effect`` (how much p(class) drops when one channel is switched off, every
  channel in a few batched passes).

Inputs follow one convention everywhere (``model_inputs``): ``uint8`` arrays are pixels
0..255 and are scaled to [0, 1] (MNIST's convention, what the digit models were trained
on); a batch without a channel axis ``(N, H, W)`` gets one when the model takes one
channel; 28x28 digits are padded with zeros to a larger square digit input (LeNet-5's
32x32). Float arrays are otherwise taken as the model's inputs, as they are.

Maps are channels-last (Keras' default). TensorFlow and Keras are imported inside the
functions, so importing this module is cheap. Not thread-safe: one thread uses a given
model at a time (see STYLE.md).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.models.zoo import is_distribution, softmax
from engine.util.files import atomic_path
from engine.util.progress import CancelCheck, ProgressCallback, never_cancelled, no_progress

if TYPE_CHECKING:
    import keras


SET_FILTER, SCALE, ABLATE, RESTORE = "set_filter", "scale", "ablate", "restore"
EDIT_KINDS = (SET_FILTER, SCALE, ABLATE, RESTORE)

#: Rows of layer output processed at once by ``ablation_effect`` are capped so that one
#: chunk stays near this many bytes (a VGG16 block1 map is 12.8 MB per row).
_CHUNK_BYTES = 64 * 2**20
#: About how long one chunk of a long batch job runs between two ``cancelled()`` checks
#: (the scheduler's yield points).
_SLICE_SECONDS = 0.1


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _ranges(channels: Sequence[int]) -> str:
    """Sorted channel numbers as short text, runs joined by a dash.

    >>> _ranges([0, 1, 2, 3, 7, 9, 10])
    '0-3, 7, 9, 10'
    """
    parts: list[str] = []
    start = prev = channels[0]
    for c in [*channels[1:], None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        parts.append(
            f"{start}-{prev}" if prev - start >= 2 else ", ".join(map(str, range(start, prev + 1)))
        )
        if c is not None:
            start = prev = c
    return ", ".join(parts)


def _check_channel(count: int, layer_name: str, index: Any) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise ValueError(f"a channel index must be an int. Received: {index!r}")
    if not 0 <= index < count:
        raise ValueError(
            f"{layer_name} has {count} output channels (0..{count - 1}). Received: {index}"
        )
    return int(index)


# -- edits --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Edit:
    """One change ``ModelEditor`` made, as a record (what, where, with which numbers).

    Attributes
    ----------
    kind : str
        ``"set_filter"``, ``"scale"``, ``"ablate"`` or ``"restore"`` (the source
        model's weights put back into some channels).
    layer : str
        The edited layer's name.
    channels : tuple of int
        The output channels (filters; units of a ``Dense`` layer) changed, sorted.
    kernel : np.ndarray or None
        ``set_filter``: the (F, F, C_in) kernel put in, read-only, in the layer's dtype.
    bias : float or None
        ``set_filter``: the new bias, or None when the bias was kept.
    factor : float or None
        ``scale``: the factor; ``set_filter`` with ``match_norm``: the factor the kernel
        was scaled by.
    name : str or None
        ``set_filter``: what the kernel is called (``"vertical edge"``), for display.
    unit : str
        What one output channel is called: ``"filter"`` (conv) or ``"unit"`` (dense).

    Examples
    --------
    >>> k = np.zeros((3, 3, 1))
    >>> Edit(SET_FILTER, "conv2d_1", (5,), kernel=k, name="vertical edge").describe()
    'conv2d_1 filter 5 := vertical edge 3x3'
    >>> Edit(SCALE, "conv2d_2", (7,), factor=0.5).describe()
    'conv2d_2 filter 7 scaled by 0.5'
    >>> Edit(ABLATE, "conv2d_2", (0, 1, 2, 3, 9)).describe()
    'conv2d_2 filters 0-3, 9 off'
    """

    kind: str
    layer: str
    channels: tuple[int, ...]
    kernel: np.ndarray | None = None
    bias: float | None = None
    factor: float | None = None
    name: str | None = None
    unit: str = "filter"

    def describe(self) -> str:
        """One line for an edit list: ``"conv2d_1 filter 5 := vertical edge 3x3"``."""
        plural = "s" if len(self.channels) > 1 else ""
        where = f"{self.layer} {self.unit}{plural} {_ranges(self.channels)}"
        if self.kind == SET_FILTER:
            k = self.kernel
            size = (
                ""
                if k is None
                else "x".join(str(d) for d in (k.shape if k.shape[-1] > 1 else k.shape[:2]))
            )
            text = f"{where} := {self.name or 'custom'} {size}".rstrip()
            if self.factor is not None:
                text += f" ×{self.factor:.3g} (the trained filter's norm)"
            return text if self.bias is None else f"{text}, bias {self.bias:g}"
        if self.kind == SCALE:
            return f"{where} scaled by {self.factor:g}"
        if self.kind == RESTORE:
            return f"{where} restored"
        return f"{where} off"


@dataclass(frozen=True)
class _Undo:
    layer: str
    channels: np.ndarray  # the kernel's last-axis indices the edit changed
    kernel: np.ndarray  # their values before the edit, exactly
    bias: np.ndarray | None


def layer_edit_kind(model: Any, layer_name: str) -> str | None:
    """``edit_kind`` of layer ``layer_name`` of a Keras or an ONNX model (None: no such
    layer, or not editable)."""
    from engine.models.onnx_model import edit_kind as onnx_edit_kind
    from engine.models.onnx_model import is_onnx

    if is_onnx(model):
        return onnx_edit_kind(model, layer_name)
    try:
        return edit_kind(model.get_layer(layer_name))
    except ValueError:
        return None


def editor_for(model: Any) -> Any:
    """The editor of ``model``: a ``ModelEditor`` (Keras) or an ``OnnxEditor``, with the
    same methods."""
    from engine.models.onnx_model import OnnxEditor, is_onnx

    return OnnxEditor(model) if is_onnx(model) else ModelEditor(model)


def edit_kind(layer: Any) -> str | None:
    """What ``ModelEditor`` can do to ``layer``: ``"conv"`` for a plain ``Conv2D``
    (every edit), ``"dense"`` for ``Dense`` (scale, ablate, restore), else None."""
    import keras

    from engine.inspection.activations import conv_layer_kind

    if conv_layer_kind(layer) == "conv":
        return "conv"
    if isinstance(layer, keras.layers.Dense):
        return "dense"
    return None


def _activation_at_zero(layer: Any) -> float:
    """The largest |act(0)| of the layer's activation on a few zeros (0.0 for none)."""
    import keras

    act = getattr(layer, "activation", None)
    if act is None:
        return 0.0
    out = keras.ops.convert_to_numpy(act(keras.ops.zeros((1, 4), dtype="float32")))
    return float(np.max(np.abs(out)))


class ModelEditor:
    """Edit a copy of a trained model: filters, channel scales, channels off; undo; save.

    Parameters
    ----------
    model : keras.Model
        A built Sequential or functional model. It is never changed: ``.model`` is a
        clone (``keras.models.clone_model``) with copies of its weights.

    Attributes
    ----------
    model : keras.Model
        The edited copy. Its variables are assigned in place by each edit (no rebuild),
        so keep using the same object: a probe or classifier made on it stays valid.
    source : keras.Model
        The model passed in.

    Notes
    -----
    Editable layers: ``Conv2D`` (``set_filter``, ``scale``, ``ablate``) and ``Dense``
    (``scale``, ``ablate``; its units are its output channels). An output channel is the
    kernel's last axis with its bias. "Ablated" means that the *layer's own output* in
    that channel is exactly 0: the kernel and bias are zeroed, which is exact when the
    layer's activation maps 0 to 0 (relu, linear, tanh, elu, gelu, ...); a layer whose
    activation does not (sigmoid(0) = 0.5, softmax) is refused with a ValueError, as no
    weights make its output 0. Layers after it (a ``BatchNormalization`` adding its
    offset, say) may map that 0 to something else; ablate there too, or see
    ``ablation_effect``, which zeroes a layer's output channel directly.

    Examples
    --------
    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> editor = ModelEditor(build_mnist_cnn(compile=False))
    >>> edit = editor.set_filter("conv2d_1", 5, [[-1, 0, 1]] * 3, name="vertical edge")
    >>> editor.ablate("conv2d_2", [3, 4]).describe()
    'conv2d_2 filters 3, 4 off'
    >>> [e.describe() for e in editor.edits]
    ['conv2d_1 filter 5 := vertical edge 3x3', 'conv2d_2 filters 3, 4 off']
    >>> [e.describe() for e in editor.revert()]
    ['conv2d_2 filters 3, 4 off']
    >>> len(editor.revert(0)), editor.edits
    (1, ())
    """

    def __init__(self, model: keras.Model) -> None:
        import keras

        try:
            clone = keras.models.clone_model(model)
        except Exception as exc:  # subclassed models cannot be cloned from their config
            raise ValueError(
                "ModelEditor needs a Sequential or functional Keras model it can clone. "
                f"Received {type(model).__name__}: {exc}"
            ) from exc
        clone.set_weights(model.get_weights())
        self.source = model
        self.model = clone
        self._edits: list[Edit] = []
        self._undo: list[_Undo] = []

    # -- reading ----------------------------------------------------------------------
    @property
    def edits(self) -> tuple[Edit, ...]:
        """The edits made so far, oldest first."""
        return tuple(self._edits)

    def editable_layers(self) -> tuple[str, ...]:
        """The names of the layers this editor can change (Conv2D and Dense), in order."""
        return tuple(layer.name for layer in self.model.layers if edit_kind(layer))

    def _layer(self, layer_name: str, conv_only: bool = False) -> tuple[Any, str]:
        layer = next((x for x in self.model.layers if x.name == layer_name), None)
        kind = None if layer is None else edit_kind(layer)
        if kind is None or (conv_only and kind != "conv"):
            wanted = "Conv2D" if conv_only else "Conv2D or Dense"
            kinds = ("conv",) if conv_only else ("conv", "dense")
            names = [x.name for x in self.model.layers if edit_kind(x) in kinds]
            what = "no such layer" if layer is None else f"a {type(layer).__name__}"
            raise ValueError(
                f"{layer_name!r} must be a {wanted} layer of {self.model.name} "
                f"({', '.join(names) or 'none'}). Received {what}"
            )
        return layer, kind

    @staticmethod
    def _channel(layer: Any, index: Any) -> int:
        return _check_channel(int(layer.kernel.shape[-1]), layer.name, index)

    # -- editing ----------------------------------------------------------------------
    def _apply(
        self,
        layer: Any,
        channels: Sequence[int],
        kernel_values: np.ndarray,
        bias_values: np.ndarray | None,
        edit: Edit,
    ) -> Edit:
        """Write new values for ``channels`` (kernel[..., channels], bias[channels]),
        keeping the old ones exactly for ``revert``."""
        idx = np.asarray(channels, dtype=np.intp)
        kernel = np.array(layer.kernel.numpy())  # a writable copy
        old_kernel = kernel[..., idx].copy()
        kernel[..., idx] = kernel_values
        old_bias = None
        bias = None
        if layer.use_bias:
            bias = np.array(layer.bias.numpy())
            old_bias = bias[idx].copy()
            if bias_values is not None:
                bias[idx] = bias_values
        layer.kernel.assign(kernel)
        if bias is not None and bias_values is not None:
            layer.bias.assign(bias)
        self._undo.append(_Undo(layer.name, idx, old_kernel, old_bias))
        self._edits.append(edit)
        return edit

    def set_filter(
        self,
        layer_name: str,
        index: int,
        kernel: Any,
        name: str | None = None,
        bias: float | None = None,
        match_norm: bool = False,
    ) -> Edit:
        """Put ``kernel`` into output channel ``index`` of a Conv2D layer.

        Parameters
        ----------
        layer_name : str
            A ``Conv2D`` layer.
        index : int
            The output channel (filter) to replace.
        kernel : array-like
            (F, F) for a layer with one input channel (the first layer of a greyscale
            model), (F, F, C_in) for one with several: one F x F slice per input channel.
            F x F must be the layer's kernel size; C_in is the kernel's input depth
            (C_in / groups for a grouped convolution). Cast to the layer's dtype.
        name : str, optional
            What the kernel is called, for ``Edit.describe`` (``"vertical edge"``).
        bias : float, optional
            A new bias for the channel; by default the trained bias is kept.
        match_norm : bool
            Scale the kernel so that its L2 norm is the trained filter's (the source
            model's, in that channel): the same pattern at the strength the layers after
            it were trained on. The factor is recorded in the edit. A kernel of zeros is
            put in as it is.

        Returns
        -------
        Edit

        Raises
        ------
        ValueError
            Not a Conv2D layer, an index out of range, a kernel of the wrong shape (a 2-D
            kernel for a layer with several input channels included) or not finite.
        """
        layer, _ = self._layer(layer_name, conv_only=True)
        channel = self._channel(layer, index)
        fh, fw, c_in, _ = (int(d) for d in layer.kernel.shape)
        k = np.asarray(kernel, dtype=np.float64)
        if k.ndim == 2:
            if c_in != 1:
                raise ValueError(
                    f"{layer_name} has {c_in} input channels, so its filters are "
                    f"(F, F, C_in) = ({fh}, {fw}, {c_in}): one {fh}x{fw} slice per input "
                    f"channel. Received a 2-D kernel of shape {k.shape}; to apply it to every "
                    f"input channel, pass np.repeat(kernel[:, :, None], {c_in}, axis=2)"
                )
            k = k[:, :, None]
        if k.shape != (fh, fw, c_in):
            expected = f"({fh}, {fw})" + ("" if c_in == 1 else f" x {c_in} input channels")
            raise ValueError(
                f"{layer_name}'s filters are {expected}: kernel must have shape "
                f"{(fh, fw) if c_in == 1 else (fh, fw, c_in)}. Received shape {np.shape(kernel)}"
            )
        if not np.isfinite(k).all():
            raise ValueError("kernel must hold finite numbers. Received NaN or infinity")
        if bias is not None and not np.isfinite(bias):
            raise ValueError(f"bias must be a finite number. Received: bias={bias}")
        if bias is not None and not layer.use_bias:
            raise ValueError(f"{layer_name} has no bias. Received: bias={bias}")
        factor = None
        if match_norm:
            trained = np.asarray(self.source.get_layer(layer.name).kernel.numpy())[..., channel]
            norm = float(np.linalg.norm(k))
            if norm > 0:
                factor = float(np.linalg.norm(trained)) / norm
                k = k * factor
        dtype = np.dtype(layer.kernel.dtype)
        stored = _readonly(k.astype(dtype))
        new_bias = None if bias is None else np.asarray([bias], dtype=dtype)
        edit = Edit(
            SET_FILTER,
            layer.name,
            (channel,),
            kernel=stored,
            bias=None if bias is None else float(bias),
            factor=factor,
            name=name,
        )
        return self._apply(layer, [channel], stored[..., None], new_bias, edit)

    def scale(self, layer_name: str, index: int, factor: float) -> Edit:
        """Multiply output channel ``index``'s kernel and bias by ``factor``.

        The channel's pre-activation output is scaled exactly; with a relu, ``factor=0``
        is ``ablate`` and a factor > 0 scales the output too.
        """
        layer, kind = self._layer(layer_name)
        channel = self._channel(layer, index)
        if isinstance(factor, bool) or not np.isfinite(factor):
            raise ValueError(f"factor must be a finite number. Received: factor={factor!r}")
        dtype = np.dtype(layer.kernel.dtype)
        f = dtype.type(factor)
        kernel = np.asarray(layer.kernel.numpy())[..., [channel]] * f
        bias = np.asarray(layer.bias.numpy())[[channel]] * f if layer.use_bias else None
        unit = "filter" if kind == "conv" else "unit"
        edit = Edit(SCALE, layer.name, (channel,), factor=float(factor), unit=unit)
        return self._apply(layer, [channel], kernel, bias, edit)

    def ablate(self, layer_name: str, channels: int | Iterable[int]) -> Edit:
        """Switch output channels off: the layer's output is exactly 0 there.

        Zeroes the channels' kernels and biases. Refused (ValueError) for a layer whose
        activation does not map 0 to 0 (sigmoid, softmax, ...): no weights switch its
        channels off. See the class notes for what happens after the layer.
        """
        layer, kind = self._layer(layer_name)
        items = [channels] if isinstance(channels, (int, np.integer)) else list(channels)
        if not items:
            raise ValueError("give at least one channel to ablate. Received none")
        chosen = sorted({self._channel(layer, c) for c in items})
        at_zero = _activation_at_zero(layer)
        if at_zero != 0.0:
            act = getattr(layer.activation, "__name__", repr(layer.activation))
            raise ValueError(
                f"cannot switch off channels of {layer_name}: its activation {act} maps 0 to "
                f"{at_zero:g}, so zeroed weights would leave the channels at {at_zero:g}, not "
                "off. Only layers whose activation maps 0 to 0 (relu, linear, tanh, ...) can "
                "be ablated by their weights; ablation_effect zeroes a layer's output directly"
            )
        dtype = np.dtype(layer.kernel.dtype)
        zeros = np.zeros((*layer.kernel.shape[:-1], len(chosen)), dtype)
        bias = np.zeros(len(chosen), dtype) if layer.use_bias else None
        unit = "filter" if kind == "conv" else "unit"
        edit = Edit(ABLATE, layer.name, tuple(chosen), unit=unit)
        return self._apply(layer, chosen, zeros, bias, edit)

    def restore(self, layer_name: str, channels: int | Iterable[int]) -> Edit:
        """Put the source model's weights back into output channels of ``layer_name``.

        An edit of its own (undone like any other), so earlier edits of other channels
        stay: "switch channel 7 back on" without undoing what came after.
        """
        layer, kind = self._layer(layer_name)
        items = [channels] if isinstance(channels, (int, np.integer)) else list(channels)
        if not items:
            raise ValueError("give at least one channel to restore. Received none")
        chosen = sorted({self._channel(layer, c) for c in items})
        source = self.source.get_layer(layer.name)
        kernel = np.asarray(source.kernel.numpy())[..., chosen]
        bias = np.asarray(source.bias.numpy())[chosen] if layer.use_bias else None
        unit = "filter" if kind == "conv" else "unit"
        edit = Edit(RESTORE, layer.name, tuple(chosen), unit=unit)
        return self._apply(layer, chosen, kernel, bias, edit)

    def revert(self, step: int | None = None) -> tuple[Edit, ...]:
        """Undo edits: the last one (``step=None``), or every edit from ``step`` on.

        ``revert(0)`` undoes everything; ``revert(k)`` goes back to the state before edit
        ``k`` (edits ``0..k-1`` stay). Every weight is restored bit for bit. Returns the
        edits undone, newest first; reverting with no edits returns ().
        """
        if step is None:
            step = max(len(self._edits) - 1, 0)
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise ValueError(f"step must be an int or None. Received: step={step!r}")
        if not 0 <= step <= len(self._edits):
            raise ValueError(
                f"step must be in 0..{len(self._edits)} (the number of edits). "
                f"Received: step={step}"
            )
        undone: list[Edit] = []
        while len(self._edits) > step:
            undo = self._undo.pop()
            undone.append(self._edits.pop())
            layer = self.model.get_layer(undo.layer)
            kernel = np.array(layer.kernel.numpy())
            kernel[..., undo.channels] = undo.kernel
            layer.kernel.assign(kernel)
            if undo.bias is not None:
                bias = np.array(layer.bias.numpy())
                bias[undo.channels] = undo.bias
                layer.bias.assign(bias)
        return tuple(undone)

    def save(self, path: str | Path) -> Path:
        """Write the edited model as a ``.keras`` file, atomically (temp file + rename).

        The file reloads with ``keras.saving.load_model(path, safe_mode=True)``.
        """
        target = Path(path)
        if target.suffix != ".keras":
            raise ValueError(f"the file name must end in .keras. Received: {str(path)!r}")
        with atomic_path(target, suffix=".keras") as tmp:
            self.model.save(tmp)
        return target


# -- inputs -------------------------------------------------------------------------------
def _input_shape(model: Any) -> tuple[int | None, ...]:
    """The model's input shape without the batch axis (a Keras model or an ONNX one)."""
    from engine.inspection.activations import input_shape_of

    # An ONNX model has one image input by construction (``load_onnx`` refuses others).
    if getattr(model, "has_gradients", True) and len(model.inputs) != 1:
        raise ValueError(f"the model must have one input. Received {len(model.inputs)}")
    return tuple(None if d is None else int(d) for d in input_shape_of(model))


def model_inputs(model: keras.Model, x: Any) -> np.ndarray:
    """A batch as the model receives it: float32 (N, *input_shape).

    ``uint8`` values are pixels 0..255 and are divided by 255; a greyscale batch
    (N, H, W) gets a channel axis; 28x28 digits are zero-padded to a larger square
    one-channel input (LeNet-5: 32x32). Anything else must already match.

    >>> from engine.models.mnist_model import build_lenet5
    >>> model_inputs(build_lenet5(compile=False), np.full((2, 28, 28), 255, np.uint8)).shape
    (2, 32, 32, 1)
    """
    from engine.models.mnist_model import pad_digits

    shape = _input_shape(model)
    a = np.asarray(x)
    a = a.astype(np.float32) / np.float32(255.0) if a.dtype == np.uint8 else a.astype(np.float32)
    one_channel = len(shape) == 3 and shape[-1] == 1
    if one_channel and a.ndim == 3:
        a = a[..., None]
    size = shape[0] if one_channel and shape[0] == shape[1] else None
    if size is not None and size > 28 and (size - 28) % 2 == 0 and a.shape[1:3] == (28, 28):
        a = pad_digits(a, (size - 28) // 2)
    if a.ndim != len(shape) + 1 or any(
        e is not None and e != g for e, g in zip(shape, a.shape[1:], strict=True)
    ):
        raise ValueError(
            f"x must be a batch of the model's inputs, (N, {', '.join(map(str, shape))}) "
            f"(None = any), or of uint8 28x28 digits. Received shape {np.shape(x)}"
        )
    if len(a) == 0:
        raise ValueError("x is empty. Received 0 inputs")
    return a


def _check_cancelled(cancelled: CancelCheck) -> None:
    if cancelled():
        raise InterruptedError("cancelled")


def _batches(n: int, size: int) -> list[slice]:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"batch_size must be an int >= 1. Received: batch_size={size!r}")
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


# -- evaluation ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Evaluation:
    """A model's results on a labelled set. Arrays are read-only.

    Attributes
    ----------
    accuracy : float
        The fraction of inputs classified right.
    confusion : np.ndarray
        (K, K) int64 counts: rows are the true classes, columns the predicted ones.
    predictions : np.ndarray
        (N,) int64 predicted classes.
    confidence : np.ndarray
        (N,) float32: the predicted class's probability.
    labels : np.ndarray
        (N,) int64 true classes.
    probabilities : np.ndarray
        (N, K) float32 class probabilities.

    Examples
    --------
    >>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], np.float32)
    >>> result = Evaluation.of(p, np.array([0, 0, 1]))
    >>> result.accuracy, result.confusion.tolist(), result.mistakes().tolist()
    (0.3333333333333333, [[1, 1], [1, 0]], [1, 2])
    """

    accuracy: float
    confusion: np.ndarray
    predictions: np.ndarray
    confidence: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray

    @classmethod
    def of(cls, probabilities: np.ndarray, labels: np.ndarray) -> Evaluation:
        """The evaluation of (N, K) class probabilities against (N,) true labels."""
        p = np.asarray(probabilities, dtype=np.float32)
        y = np.asarray(labels).astype(np.int64)
        n, k = p.shape
        predictions = p.argmax(axis=1).astype(np.int64)
        confidence = p[np.arange(n), predictions]
        confusion = np.bincount(y * k + predictions, minlength=k * k).reshape(k, k)
        return cls(
            accuracy=float((predictions == y).mean()),
            confusion=_readonly(confusion.astype(np.int64)),
            predictions=_readonly(predictions),
            confidence=_readonly(np.ascontiguousarray(confidence)),
            labels=_readonly(y),
            probabilities=_readonly(p),
        )

    def mistakes(self) -> np.ndarray:
        """Indices of the misclassified inputs, most confident mistake first."""
        return self.by_confidence(self.predictions != self.labels)

    def by_confidence(self, mask: np.ndarray) -> np.ndarray:
        """Indices of the inputs where ``mask`` (N,) is True, most confident first (ties
        in input order).

        >>> p = np.array([[0.6, 0.4], [0.1, 0.9], [0.8, 0.2]], np.float32)
        >>> Evaluation.of(p, np.array([0, 1, 1])).by_confidence(np.array([True, True, True]))
        array([1, 2, 0])
        """
        m = np.asarray(mask, bool)
        if m.shape != self.labels.shape:
            raise ValueError(f"mask must be {self.labels.shape}. Received shape {m.shape}")
        chosen = np.flatnonzero(m)
        return chosen[np.argsort(-self.confidence[chosen], kind="stable")]

    def cell(self, true: int, predicted: int) -> np.ndarray:
        """(N,) mask of the inputs of class ``true`` predicted as ``predicted``: the
        confusion matrix's cell ``[true, predicted]`` counts them."""
        return (self.labels == true) & (self.predictions == predicted)

    def broken_since(self, before: Evaluation) -> np.ndarray:
        """(N,) mask of the inputs ``before`` classified right and this one wrong (the
        digits an edit broke); ``before`` is on the same inputs."""
        y = self._same_inputs(before)
        return (before.predictions == y) & (self.predictions != y)

    def mended_since(self, before: Evaluation) -> np.ndarray:
        """(N,) mask of the inputs ``before`` classified wrong and this one right (the
        digits an edit mended); ``before`` is on the same inputs.

        >>> y = np.array([0, 1, 1])
        >>> trained = Evaluation.of(np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]), y)
        >>> edited = Evaluation.of(np.array([[0.2, 0.8], [0.4, 0.6], [0.1, 0.9]]), y)
        >>> edited.broken_since(trained).tolist(), edited.mended_since(trained).tolist()
        ([True, False, False], [False, True, False])
        """
        y = self._same_inputs(before)
        return (before.predictions != y) & (self.predictions == y)

    def _same_inputs(self, before: Evaluation) -> np.ndarray:
        if not np.array_equal(before.labels, self.labels):
            raise ValueError(
                f"both evaluations must be of the same labelled inputs. Received "
                f"{len(before.labels)} and {len(self.labels)} labels that differ"
            )
        return self.labels

    def class_accuracy(self) -> np.ndarray:
        """(K,) per true class, the fraction classified right (NaN for an absent class)."""
        totals = self.confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / totals


def _labels(y: Any, n: int, k: int) -> np.ndarray:
    a = np.asarray(y)
    if a.ndim == 2 and a.shape == (n, k):  # one-hot
        a = a.argmax(axis=1)
    if a.shape != (n,):
        raise ValueError(f"y must be ({n},) class indices for {n} inputs. Received shape {a.shape}")
    if a.dtype.kind not in "iu" and not (a.dtype.kind == "f" and np.array_equal(a, np.round(a))):
        raise ValueError(f"y must hold integer class indices. Received dtype {a.dtype}")
    a = a.astype(np.int64)
    if n and (a.min() < 0 or a.max() >= k):
        raise ValueError(f"y must be class indices in 0..{k - 1}. Received {a.min()}..{a.max()}")
    return a


def _predict(
    fn: Callable[[np.ndarray], Any],
    x: np.ndarray,
    batch_size: int,
    progress: ProgressCallback,
    cancelled: Callable[[], bool],
    what: str,
) -> np.ndarray:
    """``fn`` over ``x`` in batches, checking ``cancelled()`` between them."""
    parts = []
    for part in _batches(len(x), batch_size):
        if cancelled():
            raise InterruptedError("cancelled")
        parts.append(np.asarray(fn(x[part])))
        progress(part.stop / len(x), f"{what}: {part.stop} of {len(x)}")
    return np.concatenate(parts)


def evaluate(
    model: keras.Model,
    x: Any,
    y: Any,
    batch_size: int = 250,
    progress: ProgressCallback = no_progress,
    cancelled: CancelCheck = never_cancelled,
) -> Evaluation:
    """Classify a labelled set in batches: accuracy, confusion matrix, mistakes.

    Parameters
    ----------
    model : keras.Model or OnnxNetwork
        One input, one (N, K) output of class probabilities. An output that is not
        probabilities (a negative value, or a row not summing to 1) is taken as logits
        and passed through a softmax.
    x : np.ndarray
        ``uint8`` (N, 28, 28) digits (scaled to [0, 1], given a channel axis: MNIST's
        convention) or float (N, H, W, C) model inputs; see ``model_inputs``.
    y : np.ndarray
        (N,) class indices (or (N, K) one-hot).
    batch_size : int
        Inputs per forward pass.
    progress : callable
        ``progress(fraction, message)`` after each batch.
    cancelled : callable
        Checked before each batch; when it returns True, ``InterruptedError("cancelled")``
        is raised.

    Returns
    -------
    Evaluation
    """
    batch = model_inputs(model, x)
    if getattr(model, "has_gradients", True):
        call = _compiled(model, "model", lambda: model)
    else:  # an ONNX model (``OnnxNetwork``): ONNX Runtime runs the batches
        call = model.forward
    p = _predict(call, batch, batch_size, progress, cancelled, "evaluating")
    if p.ndim != 2:
        raise ValueError(f"the model must output (N, classes). Received shape {p.shape}")
    if not is_distribution(p):
        p = softmax(p)
    return Evaluation.of(p, _labels(y, len(batch), p.shape[1]))


# -- channel triage -----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ChannelStats:
    """Per-channel mean and maximum of one activation (read-only (C,) arrays)."""

    mean: np.ndarray
    maximum: np.ndarray

    def ranking(self, by: str = "mean") -> np.ndarray:
        """Channel indices, strongest first, by ``"mean"`` or ``"maximum"``."""
        if by not in ("mean", "maximum"):
            raise ValueError(f"by must be 'mean' or 'maximum'. Received: by={by!r}")
        return np.argsort(-getattr(self, by), kind="stable")


def channel_stats(maps: Any) -> ChannelStats:
    """Per-channel mean and maximum of one activation, channels last: (H, W, C) or (C,).

    >>> s = channel_stats(np.arange(8.0).reshape(2, 2, 2))
    >>> s.mean.tolist(), s.maximum.tolist(), s.ranking().tolist()
    ([3.0, 4.0], [6.0, 7.0], [1, 0])
    """
    a = np.asarray(maps, dtype=np.float64)
    if a.ndim == 0 or a.size == 0:
        raise ValueError(f"maps must be (..., C), not empty. Received shape {a.shape}")
    flat = a.reshape(-1, a.shape[-1])
    return ChannelStats(_readonly(flat.mean(axis=0)), _readonly(flat.max(axis=0)))


# Per model (held weakly: they go when the model goes), the models and functions built
# for the triage helpers, by layer name, so repeated calls do not rebuild or retrace them.
_CACHE: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], Any]] = weakref.WeakKeyDictionary()


def _cached(model: Any, key: tuple[str, str], make: Callable[[], Any]) -> Any:
    per_model = _CACHE.setdefault(model, {})
    if key not in per_model:
        per_model[key] = make()
    return per_model[key]


def _compiled(model: Any, key: str, make: Callable[[], Any]) -> Callable[[np.ndarray], Any]:
    """``make()`` (a Keras model or layer stack) as a ``tf.function`` of one batch of
    ``make()``'s inputs with any batch size: traced once, whatever the batch sizes, and
    reading the weights at each call (so it follows ``ModelEditor``'s edits)."""
    import tensorflow as tf

    def build() -> Callable[[np.ndarray], Any]:
        target = make()
        # The cache holds its values strongly: a value that held the model itself would
        # keep it (and its weights) alive for ever, so the model is held weakly.
        get = weakref.ref(model) if target is model else (lambda: target)
        spec = tf.TensorSpec((None, *target.inputs[0].shape[1:]), target.inputs[0].dtype)
        return tf.function(lambda x: get()(x, training=False), input_signature=[spec])

    return _cached(model, ("compiled", key), build)


def _model_layer(model: Any, layer_name: str) -> Any:
    for layer in model.layers:
        if layer.name == layer_name:
            if getattr(layer, "data_format", "channels_last") != "channels_last":
                raise ValueError(
                    f"{layer_name}'s maps must be channels-last. Received channels_first"
                )
            return layer
    raise ValueError(f"the model has no layer {layer_name!r}. Received: layer_name={layer_name!r}")


def _head(model: Any, layer_name: str) -> Callable[[np.ndarray], Any]:
    """A compiled function from the input to ``layer_name``'s output (the model's weights)."""
    import keras

    layer = _model_layer(model, layer_name)
    return _compiled(model, f"head {layer_name}", lambda: keras.Model(model.inputs, layer.output))


def layer_outputs(
    model: keras.Model,
    layer_name: str,
    x: Any,
    batch_size: int = 250,
    progress: ProgressCallback = no_progress,
    cancelled: CancelCheck = never_cancelled,
) -> np.ndarray:
    """The layer's outputs for a batch (inputs as in ``model_inputs``), batched."""
    head = _head(model, layer_name)
    batch = model_inputs(model, x)
    return _predict(head, batch, batch_size, progress, cancelled, layer_name)


def dead_fraction(
    model: keras.Model,
    layer_name: str,
    x_batch: Any,
    batch_size: int = 250,
    progress: ProgressCallback = no_progress,
    cancelled: CancelCheck = never_cancelled,
) -> np.ndarray:
    """(C,) for each channel of the layer, the fraction of inputs whose map is all zero.

    A channel dead on every input (1.0) is a candidate to ignore or prune; inputs as in
    ``model_inputs``.
    """
    outs = layer_outputs(model, layer_name, x_batch, batch_size, progress, cancelled)
    flat = outs.reshape(len(outs), -1, outs.shape[-1])
    return (flat == 0).all(axis=1).mean(axis=0)


def _chain_after(model: Any, layer_name: str) -> list[Any]:
    """The layers from ``layer_name``'s output to the model's output, when they form a
    single chain (each takes the previous one's output alone); else a ValueError that
    says where the chain branches. Reads the graph only."""
    import keras

    from engine.inspection.activations import inbound_layers

    _model_layer(model, layer_name)
    if len(model.outputs) != 1:
        raise ValueError(f"the model must have one output. Received {len(model.outputs)}")
    layers = [x for x in model.layers if not isinstance(x, keras.layers.InputLayer)]
    names = [x.name for x in layers]
    chain = layers[names.index(layer_name) + 1 :]
    inbound = inbound_layers(model)
    prev = layer_name
    for layer in chain:
        if inbound.get(layer.name) != [prev] or len(layer._inbound_nodes) != 1:
            raise ValueError(
                f"ablation_effect needs {layer_name}'s output to feed a single chain of "
                f"layers to the model's output; {layer.name} takes "
                f"{inbound.get(layer.name)} (a branch or merge: residual blocks, "
                "inception modules). Received: layer_name=" + repr(layer_name)
            )
        prev = layer.name
    last = chain[-1] if chain else _model_layer(model, layer_name)
    if model.outputs[0] is not last.output:
        raise ValueError(
            f"the model's output is not the end of the chain after {layer_name}. "
            f"Received: layer_name={layer_name!r}"
        )
    return chain


def ablation_refusal(model: keras.Model, layer_name: str) -> str:
    """Why ``ablation_effect`` cannot measure ``layer_name`` of ``model``; "" when it can.

    Reads the model's graph only (nothing is built or computed): a layer inside a
    residual block or an inception module is refused, a layer of a plain chain is not.

    >>> from engine.models.mnist_model import build_mnist_cnn
    >>> ablation_refusal(build_mnist_cnn(compile=False), "conv2d_2")
    ''
    """
    if not getattr(model, "has_gradients", True):  # an ONNX model: no Keras graph to cut
        return "the ablation order runs the model's tail as Keras layers: it needs a Keras model"
    try:
        _chain_after(model, layer_name)
    except ValueError as exc:
        return str(exc)
    return ""


def _tail(model: Any, layer_name: str) -> Callable[[np.ndarray], Any]:
    """A compiled function from ``layer_name``'s output to the model's output.

    Only for a layer whose output feeds a single chain of layers down to the model's
    output (``_chain_after``: any Sequential model, and functional models such as VGG16
    or the head of ResNet50 after its last block). The layers are called on tensors, not
    on symbolic inputs, so the model's graph is left as it is.
    """
    import tensorflow as tf

    def make() -> Callable[[np.ndarray], Any]:
        chain = _chain_after(model, layer_name)

        def run(h: Any) -> Any:
            for layer in chain:
                h = layer(h, training=False)
            return h

        out = _model_layer(model, layer_name).output
        spec = tf.TensorSpec((None, *out.shape[1:]), out.dtype)
        return tf.function(run, input_signature=[spec])

    _model_layer(model, layer_name)
    return _cached(model, ("tail", layer_name), make)


def ablation_effect(
    model: keras.Model,
    layer_name: str,
    x: Any,
    class_index: int,
    channels: Iterable[int] | None = None,
    batch_size: int = 256,
    progress: ProgressCallback = no_progress,
    cancelled: CancelCheck = never_cancelled,
) -> np.ndarray:
    """How much p(class_index) drops when one channel of a layer is switched off.

    The layer's output is computed once for ``x``; then, for each (input, channel), a
    copy with that channel set to 0 runs through the rest of the network, many such rows
    per batch. "Switched off" means the layer's output channel is 0, what
    ``ModelEditor.ablate`` gives for a layer whose activation maps 0 to 0.

    Parameters
    ----------
    model : keras.Model
        One input, one output of class probabilities (logits get a softmax).
    layer_name : str
        A layer whose output feeds a single chain of layers to the output: every layer
        of a Sequential model; in a functional model, not a layer inside a residual or
        inception block (ValueError).
    x : np.ndarray
        A batch of inputs (``model_inputs``): one drawn digit is ``digit.pixels[None]``.
    class_index : int
        The class whose probability is watched.
    channels : iterable of int, optional
        Only these channels (the top of a ``channel_stats`` ranking, say); default all.

    Returns
    -------
    np.ndarray
        (len(channels),) float64: p(class) with every channel on, minus p(class) with
        that channel off, averaged over the inputs. Positive: the channel helped.
    """
    tail = _tail(model, layer_name)
    _check_cancelled(cancelled)  # a yield point between each part of the start
    acts = layer_outputs(model, layer_name, x, batch_size, cancelled=cancelled)
    _check_cancelled(cancelled)
    n, count = len(acts), acts.shape[-1]
    chosen = (
        np.arange(count)
        if channels is None
        else np.asarray([_check_channel(count, layer_name, c) for c in channels], np.intp)
    )
    base = np.asarray(tail(acts))
    if base.ndim != 2 or not 0 <= class_index < base.shape[1]:
        raise ValueError(
            f"class_index must be in 0..{base.shape[1] - 1}. Received: class_index={class_index}"
        )
    logits = not is_distribution(base)

    def p_class(out: Any) -> np.ndarray:
        o = np.asarray(out, np.float64)
        return (softmax(o) if logits else o)[:, class_index]

    base_p = p_class(base)
    rows_i = np.repeat(np.arange(n), len(chosen))
    rows_c = np.tile(chosen, n)
    row_bytes = acts[0].nbytes
    most = max(1, min(batch_size, _CHUNK_BYTES // max(row_bytes, 1)))
    drops = np.empty(len(rows_i))
    flat_acts = acts.reshape(n, -1, count)
    # Chunks sized by time: the first is small, then each about _SLICE_SECONDS, so a
    # scheduler's interactive request waits for one short chunk (VGG16's fc1 after
    # block5_conv3: 64 rows took 0.8-1.5 s).
    start, step = 0, min(most, 4)
    while start < len(rows_i):
        _check_cancelled(cancelled)
        part = slice(start, min(start + step, len(rows_i)))
        began = time.perf_counter()
        rows = flat_acts[rows_i[part]]  # a copy (fancy indexing)
        rows[np.arange(len(rows)), :, rows_c[part]] = 0
        p = p_class(tail(rows.reshape(-1, *acts.shape[1:])))
        drops[part] = base_p[rows_i[part]] - p
        per_row = (time.perf_counter() - began) / (part.stop - part.start)
        step = int(np.clip(_SLICE_SECONDS / max(per_row, 1e-9), 1, most))
        start = part.stop
        progress(start / len(rows_i), f"{layer_name}: {start} of {len(rows_i)} ablations")
    return drops.reshape(n, len(chosen)).mean(axis=0)
