"""One application state: what the panels share, with a change signal for each part.

Panels observe it and write the person's intents to it (napari's ``ViewerModel``): the
loaded models (the MNIST model once), the current model, the current input, that
input's activations, the selection (layer, map, pixel) and the drawn digit. A view never
holds the truth: it redraws from here.

It is a ``QObject`` (not a Qt-free psygnal model) because every observer is a Qt widget
and its work runs on the ``WorkerRunner``'s threads: Qt's queued signals bring results
back to the UI thread, and no extra dependency is needed. It lives in ``gui/``, so the
engine stays Qt-free.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from gui.scheduler import Priority, Scheduler, Ticket
from gui.workers import Task, WorkerRunner

log = logging.getLogger(__name__)

_serials = itertools.count(1)

MNIST_KEY = "mnist"


#: The name of the input when it is the Draw panel's digit (a test digit opened keeps its own).
DRAWN_DIGIT_NAME = "drawn digit"


class InputKind(str, Enum):
    """Where the current input came from (keys, stored in settings)."""

    SAMPLE = "sample"
    FILE = "file"
    DRAWN_DIGIT = "drawn_digit"
    LIVE = "live"  # a camera's or a video file's frame


@dataclass(frozen=True)
class InputImage:
    """The current input: an (H, W, 3) uint8 image or a ``PreparedDigit``.

    ``name`` is the sample's name or the file's path; ``serial`` identifies this input
    (results computed for another serial are stale).
    """

    pixels: Any
    kind: InputKind
    name: str
    serial: int = field(default_factory=lambda: next(_serials))


@dataclass(frozen=True)
class OpenModel:
    """A loaded model with its probe; ``serial`` changes whenever its weights do.

    ``fields`` holds the receptive field of every layer that has spatial maps (computed
    once, from the graph, when the model is opened). ``lineage`` is shared by a model,
    its edited copies and its re-readings (``same_layers``).
    """

    loaded: Any  # engine.models.zoo.LoadedModel
    probe: Any  # engine.inspection.activations.ActivationProbe
    fields: dict[str, Any] = field(default_factory=dict)  # name -> ReceptiveField
    serial: int = field(default_factory=lambda: next(_serials))
    #: The serial of the model as loaded: kept by its edits and by reading it another
    #: way, so views of its layers know it is the same network with other weights.
    lineage: int = 0

    def __post_init__(self) -> None:
        if not self.lineage:
            object.__setattr__(self, "lineage", self.serial)

    @property
    def key(self) -> str:
        return self.loaded.key

    @property
    def network(self) -> Any:
        """The network itself (a Keras model, or an ``OnnxNetwork``): ``loaded.model``."""
        return self.loaded.model


@dataclass(frozen=True)
class Activations:
    """Every layer's output for one (model, input) pair, computed once off the UI thread.

    ``x`` is exactly what the model received (no batch axis).
    """

    model: OpenModel
    input: InputImage
    x: np.ndarray
    maps: Mapping[str, np.ndarray]  # lazily derived layers are computed when first read
    top: list[tuple[str, float]]  # empty for an output that is not class scores
    output_note: str = ""  # what to say beside it ("logits → softmax", ...)
    #: The output read by the engine's one rule (``LoadedModel.read_output``): its
    #: probabilities are the output's own or its softmax (None: not class scores).
    reading: Any = None

    def layer(self, name: str | None) -> np.ndarray | None:
        return None if name is None else self.maps.get(name)

    @property
    def output(self) -> np.ndarray:
        """The model's output layer's values (``LoadedModel.output_layer``)."""
        return output_of(self.model, self.maps)

    def probabilities(self) -> np.ndarray | None:
        """The class probabilities (softmax of logits), None when not class scores."""
        return None if self.reading is None else self.reading.probabilities


def output_of(model: OpenModel, maps: Mapping[str, np.ndarray]) -> np.ndarray:
    """The output layer's values among ``maps`` (the last layer probed if it is missing)."""
    output = maps.get(model.loaded.output_layer)
    return output if output is not None else next(reversed(maps.values()))


@dataclass(frozen=True)
class Selection:
    """The selected layer, map (channel) of that layer and pixel (row, col) of that map.

    ("Unit" is kept for a neuron of a layer without maps: a Dense layer's unit.)
    """

    layer: str | None = None
    map: int | None = None
    pixel: tuple[int, int] | None = None


def same_layers(a: OpenModel | None, b: OpenModel | None) -> bool:
    """True when ``b`` is ``a`` with other weights or read another way (an edit, its
    undo, another input convention): the same network, so a view of its architecture
    need not be rebuilt. Two model files are never the same, whatever their layers.

    >>> same_layers(None, None)
    False
    """
    return a is not None and b is not None and a.lineage == b.lineage


def _open(loaded: Any) -> OpenModel:
    from engine.inspection.activations import ActivationProbe

    return OpenModel(loaded, ActivationProbe(loaded.model), receptive_fields(loaded.model))


def receptive_fields(model: Any) -> dict[str, Any]:
    """The receptive field of each layer with spatial maps (square ones only)."""
    from engine.explanation.attribution import receptive_field
    from engine.inspection.activations import has_maps, layer_names
    from engine.models.onnx_model import is_onnx

    if is_onnx(model):  # from its Conv and pooling attributes
        return model.receptive_fields()
    fields = {}
    for name in layer_names(model):
        if not has_maps(model, name):
            continue
        try:
            fields[name] = receptive_field(model, name)
        except ValueError as exc:  # not square, or a layer the walk does not know
            log.info("no receptive field for %s: %s", name, exc)
    return fields


def compute_activations(model: OpenModel, image: InputImage) -> Activations:
    """Prepare ``image`` for the model and run the probe (on the model thread)."""
    loaded = model.loaded
    x = loaded.prepare(image.pixels)
    maps = model.probe.run(x)
    reading = loaded.read_output(output_of(model, maps), 5)
    top = [(p.label, p.probability) for p in reading.top]
    return Activations(model, image, x, maps, top, reading.note, reading)


def keeps_results(image: InputImage) -> bool:
    """Whether results for ``image`` are worth keeping: not a live frame's (a frame is
    never shown again; kept, a video's frames would fill the budget for nothing)."""
    return image.kind is not InputKind.LIVE


def activations_key(model: OpenModel, image: InputImage) -> tuple[str, int, int]:
    """The scheduler's key of ``model``'s activations for ``image``."""
    return ("activations", model.serial, image.serial)


#: The test set the app ships (500 MNIST test digits).
BUNDLED = "bundled"


def evaluation_key(model: OpenModel, dataset: str) -> tuple[str, int, str]:
    """The scheduler's key of ``model``'s ``Evaluation`` on a test set (by id)."""
    return ("evaluation", model.serial, dataset)


def evaluate_bundled(model: OpenModel, task: Task) -> Any:
    """``model``'s ``Evaluation`` on the shipped test digits (on the model thread)."""
    from engine.editing.surgery import evaluate
    from engine.models.mnist_data import bundled_test_digits
    from gui.workers import Cancelled

    x, y = bundled_test_digits()
    try:
        return evaluate(model.network, x, y, progress=task.progress, cancelled=task.cancelled)
    except InterruptedError:  # superseded by a newer edit: not a failure
        raise Cancelled() from None


def _budget_mb() -> int:
    """The result budget the person chose (Edit > Preferences), in MB."""
    from PySide6.QtCore import QSettings

    from gui.scheduler import DEFAULT_BUDGET_MB

    try:
        return max(64, int(QSettings().value("results/budget_mb", DEFAULT_BUDGET_MB)))
    except (TypeError, ValueError):
        return DEFAULT_BUDGET_MB


def model_nbytes(model: OpenModel) -> int:
    """The bytes of ``model``'s weights (what letting it go frees)."""
    try:
        return 4 * int(model.network.count_params())
    except (AttributeError, ValueError):
        return 0


def default_layer(model: OpenModel) -> str | None:
    """The first layer with spatial maps (H, W, C), else the first layer probed."""
    from engine.inspection.activations import has_maps

    names = model.probe.layer_names
    spatial = (n for n in names if has_maps(model.network, n))
    return next(spatial, names[0] if names else None)


class AppState(QObject):
    """What the panels share. Methods are intents; signals say what changed.

    Signals
    -------
    tensorflow_ready(str)
        TensorFlow and Keras imported; their versions.
    tensorflow_failed(object)
        The import failed; the exception.
    model_loading(str, str)
        The model under this key ("file" for a model file) started or progressed
        loading; the message.
    model_opened(str)
        The model under this key was loaded or reloaded (new weights); see ``models``.
    model_changed(object)
        The current model (an ``OpenModel``) changed.
    model_failed(str, object)
        Loading the model under this key ("file" for a model file) failed; the
        exception. The previous current model stays current.
    input_changed(object)
        The current ``InputImage`` changed.
    activations_changed(object)
        The ``Activations`` of the current model and input, or None (being computed,
        or failed).
    activations_failed(object)
        Computing them failed; the exception.
    busy_changed(bool)
        Model loading or activations computing started (True) or all ended (False).
    selection_changed(object)
        The ``Selection`` changed.
    drawn_digit_changed(object)
        The digit in the Draw panel changed (a ``PreparedDigit``, or None when empty).
    target_class_changed(object)
        The class that explanations are about (an int), or None for the top class.
    panel_requested(str)
        Someone asked to bring a panel (by key) to the front; ``"key/part"`` asks for a
        part of it too (``"activations/edit"``: its Edit model tab).
    edits_changed(str)
        The edits of the model under this key changed (made, undone, reverted); the
        edited model replaced ``models[key]`` (and is current if that key is), so
        ``model_opened`` and ``model_changed`` came first. See ``edits``.
    edit_failed(str, object)
        An edit of the model under this key was refused or failed; the exception.
    digit_opened(object, str)
        A digit image ((28, 28) uint8, ink high) was opened from a test set, to be
        shown in the Draw panel as an editable drawing; its name.
    scene_file_requested(object)
        A scene or lecture file (a ``Path``) was dropped on a panel: the main window
        opens it.
    model_released(str)
        The open model under this key was let go to stay within the result budget
        (``set_result_budget``); ``load_model`` opens it again.
    request_refused(str)
        A selection asked for ahead (``request_selection``, a scene's layer) could not
        be made; the sentence to show.
    """

    tensorflow_ready = Signal(str)
    tensorflow_failed = Signal(object)
    model_loading = Signal(str, str)
    model_opened = Signal(str)
    model_changed = Signal(object)
    model_failed = Signal(str, object)
    input_changed = Signal(object)
    activations_changed = Signal(object)
    activations_failed = Signal(object)
    busy_changed = Signal(bool)
    selection_changed = Signal(object)
    drawn_digit_changed = Signal(object)
    target_class_changed = Signal(object)
    panel_requested = Signal(str)
    digit_opened = Signal(object, str)
    edits_changed = Signal(str)
    edit_failed = Signal(str, object)
    request_refused = Signal(str)
    scene_file_requested = Signal(object)
    model_released = Signal(str)

    def __init__(self, runner: WorkerRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        #: Every derived result is asked for through ``request`` (``gui.scheduler``).
        self.scheduler = Scheduler(runner, _budget_mb(), shared=(OpenModel,), parent=self)
        self._model_use: dict[str, int] = {}  # key -> when it was last current
        self._use_clock = itertools.count()
        self.tensorflow_version: str | None = None
        self.tensorflow_error: BaseException | None = None
        self.models: dict[str, OpenModel] = {}
        self.model: OpenModel | None = None
        self.input: InputImage | None = None
        self.activations: Activations | None = None
        self.selection = Selection()
        self.drawn_digit: Any = None  # engine.models.digits.PreparedDigit
        self.target_class: int | None = None  # None: the top class of the current input
        # A scene's (model key, layer, map), selected once that model's activations are in.
        self._wanted: tuple[str, str | None, int | None] | None = None
        self._loading = 0  # model jobs (loads and edits) running
        self._loading_keys: set[str] = set()
        self._load_token = 0  # the newest request for the current model
        self._computing = False
        # Model surgery: per model key, the editor (its edited copy of the model) and the
        # model as it was before the first edit (current again once every edit is undone).
        self._editors: dict[str, Any] = {}  # key -> engine.editing.surgery.ModelEditor
        self._originals: dict[str, OpenModel] = {}
        self._edit_lists: dict[str, tuple[Any, ...]] = {}  # key -> its edits, UI thread
        self._workshop: dict[str, tuple[Any, Any]] = {}  # key -> (editor, probe); model thread

    # -- results ---------------------------------------------------------------------------
    def request(self, job: Callable[[Task], Any], **options: Any) -> Ticket:
        """Ask for a derived result (``Scheduler.request``: key, priority, slot, pool and
        the ``on_*`` callbacks); the one way views get work done off the UI thread."""
        return self.scheduler.request(job, **options)

    def request_activations(
        self,
        model: OpenModel,
        image: InputImage,
        on_result: Callable[[Activations], None],
        on_failed: Callable[[BaseException], None] | None = None,
        priority: Priority = Priority.INTERACTIVE,
    ) -> Ticket:
        """``model``'s activations for ``image`` (any open model, e.g. an edited model's
        original), from the cache when they were computed before."""
        return self.request(
            lambda _task: compute_activations(model, image),
            key=activations_key(model, image),
            cache=keeps_results(image),
            priority=priority,
            on_result=on_result,
            on_failed=on_failed,
        )

    def set_result_budget(self, mb: int) -> None:
        """The bytes results and extra open models may hold; remembered."""
        from PySide6.QtCore import QSettings

        self.scheduler.set_budget_mb(mb)
        QSettings().setValue("results/budget_mb", int(mb))
        self._release_models()

    def _forget_stale(self) -> None:
        """Let go of the results of models no view can show any more."""
        live = {m.serial for m in self.in_use()}
        self.scheduler.forget(
            lambda k: (
                not (isinstance(k, tuple) and len(k) > 1 and isinstance(k[1], int)) or k[1] in live
            )
        )

    def _release_models(self) -> None:
        """Let the opened models beyond the current one, the digit models and the edited
        ones go, least recently current first, while they and the cached results hold
        more than the budget."""
        held = {
            key: model_nbytes(m)
            for key, m in self.models.items()
            if not m.loaded.spec.digit
            and key not in self._originals
            and key not in self._loading_keys
            and (self.model is None or m.serial != self.model.serial)
        }
        total = sum(held.values()) + self.scheduler.cache.nbytes
        released = False
        for key in sorted(held, key=lambda k: self._model_use.get(k, -1)):
            if total <= self.scheduler.budget:
                break
            log.info("letting %s go (%d MB) to stay within the budget", key, held[key] >> 20)
            del self.models[key]
            self._drop_workshop(key)
            total -= held[key]
            released = True
            self.model_released.emit(key)
        self._forget_stale()
        if released:
            from engine.util.memory import give_back_freed

            give_back_freed()

    # -- TensorFlow ------------------------------------------------------------------------
    def start_tensorflow(self) -> None:
        """Import TensorFlow on the model thread, then load the MNIST model once."""
        from engine.models.runtime import load_tensorflow

        self.request(
            lambda task: load_tensorflow(progress=task.progress),
            on_result=self._on_tensorflow_ready,
            on_failed=self._on_tensorflow_failed,
        )

    def _on_tensorflow_ready(self, versions: str) -> None:
        self.tensorflow_version = versions
        log.info("%s loaded", versions)
        if self.model is None and self._load_token == 0:
            self.open_model(MNIST_KEY)  # before the views hear of it: they find it loading
        self.tensorflow_ready.emit(versions)

    def _on_tensorflow_failed(self, exc: BaseException) -> None:
        self.tensorflow_error = exc
        self.tensorflow_failed.emit(exc)

    # -- models ----------------------------------------------------------------------------
    def busy(self) -> bool:
        return self._loading > 0 or self._computing

    def open_model(self, key: str, weights: str | Path | None = "imagenet") -> None:
        """Make the zoo model ``key`` current; build it first unless it is open already.

        ``weights`` as ``engine.models.zoo.load_zoo_model`` takes them; asking for other weights
        than the open model's builds it again.
        """
        from engine.models.zoo import MODEL_TITLES, load_zoo_model

        open_ = self.models.get(key)
        # A digit model has one set of weights (the ones in use, maybe edited): reuse it.
        digit = open_ is not None and open_.loaded.spec.digit
        if open_ is not None and (digit or _weights_of(open_) == weights):
            self._load_token += 1  # a model still loading no longer replaces this choice
            self._make_current(open_)
            return
        what = MODEL_TITLES.get(key, key) + (" (untrained)" if weights is None else "")
        self._load(
            lambda task: _open(load_zoo_model(key, weights, progress=task.progress)),
            what,
            key,
            current=True,
        )

    def open_model_file(self, path: Path, scaling: str | None = None) -> None:
        """Open a Keras model file of the person's own and make it current; ``scaling``
        is the input convention the person chose for it before (None: detect)."""
        from engine.models.zoo import load_user_model

        self._load(
            lambda _task: _open(load_user_model(path, scaling=scaling)),
            Path(path).name,
            "file",
            current=True,
        )

    def reread_model(self, loaded: Any) -> None:
        """The current model read another way (input convention, names): the same Keras
        model and probe, a new ``LoadedModel``; its activations are computed again and
        the selection stays."""
        old = self.model
        if old is None:
            return
        new = OpenModel(loaded, old.probe, old.fields, lineage=old.lineage)
        self.model = new
        if new.key in self.models:
            self.models[new.key] = new
        original = self._originals.get(new.key)
        if original is not None:  # edited: undoing every edit keeps this reading
            self._originals[new.key] = OpenModel(
                replace(loaded, model=original.network, title=original.loaded.title),
                original.probe,
                original.fields,
                lineage=original.lineage,
            )
        self.activations = None
        self.model_changed.emit(new)
        self.activations_changed.emit(None)
        self._recompute()

    def load_model(self, key: str) -> None:
        """Have zoo model ``key`` open (for a view that shows it beside the current one)
        without making it current; ``model_opened`` says when it is."""
        from engine.models.zoo import MODEL_TITLES, load_zoo_model

        if key in self.models or key in self._loading_keys:
            return
        self._load(
            lambda task: _open(load_zoo_model(key, progress=task.progress)),
            MODEL_TITLES.get(key, key),
            key,
            current=False,
        )

    def reload_model(self, key: str) -> None:
        """Build ``key`` again (new weights on disk, e.g. after training); every view that
        shows it follows. The current model stays current."""
        from engine.models.zoo import MODEL_TITLES, load_zoo_model

        self._load(
            lambda task: _open(load_zoo_model(key, progress=task.progress)),
            MODEL_TITLES.get(key, key),
            key,
            current=self.model is not None and self.model.key == key,
        )

    def _load(self, job: Callable[[Task], OpenModel], what: str, key: str, current: bool) -> None:
        if current:
            self._load_token += 1
        token = self._load_token
        self._loading_keys.add(key)
        self._set_loading(+1)
        self.model_loading.emit(key, f"Loading {what}…")
        self.request(
            job,
            on_progress=lambda _f, message: self.model_loading.emit(key, message),
            on_result=lambda m: self._on_model_loaded(m, current and token == self._load_token),
            on_failed=lambda exc: self.model_failed.emit(key, exc),
            on_done=lambda: self._load_done(key),
        )

    def _on_model_loaded(self, model: OpenModel, make_current: bool) -> None:
        if model.key in self._editors:  # new weights (retrained): the old edits are gone
            del self._editors[model.key]
            self._edit_lists.pop(model.key, None)
            self._originals.pop(model.key, None)
            self.edits_changed.emit(model.key)
        self._drop_workshop(model.key)
        if model.key != "file":
            self.models[model.key] = model
        self._model_use[model.key] = next(self._use_clock)
        self.model_opened.emit(model.key)
        if make_current or (self.model is not None and self.model.key == model.key):
            self._make_current(model)
        self._release_models()

    def _make_current(self, model: OpenModel) -> None:
        if model is self.model:
            return
        self._model_use[model.key] = next(self._use_clock)
        self.model = model
        self.activations = None
        self.selection = Selection()
        self.target_class = None
        self.model_changed.emit(model)
        self.activations_changed.emit(None)
        self.selection_changed.emit(self.selection)
        self.target_class_changed.emit(None)
        self._recompute()

    def _load_done(self, key: str) -> None:
        self._loading_keys.discard(key)
        self._set_loading(-1)

    def _set_loading(self, delta: int) -> None:
        before = self.busy()
        self._loading += delta
        if self.busy() != before:
            self.busy_changed.emit(self.busy())

    # -- model surgery -----------------------------------------------------------------------
    def edits(self, key: str | None = None) -> tuple[Any, ...]:
        """The edits (``engine.editing.surgery.Edit``) made to the model under ``key`` (default:
        the current model's), oldest first."""
        key = key if key is not None else (self.model.key if self.model else None)
        # The list as the last finished edit left it: the editor's own changes on the
        # model thread while an edit or an undo runs.
        return self._edit_lists.get(key, ()) if key is not None else ()

    def editor(self, key: str) -> Any:
        """The ``ModelEditor`` of the model under ``key``, or None when it has no edits."""
        return self._editors.get(key)

    def original(self, key: str) -> OpenModel | None:
        """The model under ``key`` as it was before its edits (None: it has none)."""
        return self._originals.get(key)

    def set_filter(
        self,
        key: str,
        layer: str,
        index: int,
        kernel: Any,
        name: str | None = None,
        match_norm: bool = False,
    ) -> None:
        """Put ``kernel`` into filter ``index`` of conv ``layer`` of the model ``key``
        (scaled to the trained filter's norm with ``match_norm``)."""
        self._edit(
            key, lambda e: e.set_filter(layer, index, kernel, name=name, match_norm=match_norm)
        )

    def scale_channel(self, key: str, layer: str, index: int, factor: float) -> None:
        """Scale output channel ``index`` of ``layer`` by ``factor``."""
        self._edit(key, lambda e: e.scale(layer, index, factor))

    def ablate_channels(self, key: str, layer: str, channels: Any) -> None:
        """Switch output channels of ``layer`` off (exactly 0 there)."""
        self._edit(key, lambda e: e.ablate(layer, channels))

    def restore_channels(self, key: str, layer: str, channels: Any) -> None:
        """Put the original weights back into output channels of ``layer`` (an edit of
        its own, so what came after stays)."""
        self._edit(key, lambda e: e.restore(layer, channels))

    def undo_edit(self, key: str, step: int | None = None) -> None:
        """Undo the last edit (``step=None``) or every edit from ``step`` on."""
        if key in self._editors:
            self._edit(key, lambda e: e.revert(step))

    def revert_edits(self, key: str) -> None:
        """Undo every edit: the model's weights are the original ones bit for bit."""
        self.undo_edit(key, 0)

    def _open_as(self, key: str) -> OpenModel | None:
        """The open model under ``key`` (a model file is only ever the current one)."""
        if key in self.models:
            return self.models[key]
        return self.model if self.model is not None and self.model.key == key else None

    def _edit(self, key: str, change: Callable[[Any], Any]) -> None:
        """Apply ``change(editor)`` on the model thread, then show the edited model.

        The editor (a clone of the original, made once) and its probe are kept in
        ``_workshop``, which only the model thread touches: edits asked for in quick
        succession run one after another on that thread and all land on one editor.
        """
        base = self._open_as(key)
        if base is None:
            self.edit_failed.emit(key, ValueError(f"the model {key!r} is not open"))
            return
        original = self._originals.get(key, base)
        workshop = self._workshop

        def job(_task: Task) -> tuple[Any, Any, tuple[Any, ...]]:
            from engine.editing.surgery import editor_for
            from engine.inspection.activations import ActivationProbe

            editor, probe = workshop.get(key, (None, None))
            if editor is None or editor.source is not original.network:
                editor = editor_for(original.network)
                probe = ActivationProbe(editor.model)
                workshop[key] = (editor, probe)
            change(editor)
            return editor, probe, editor.edits

        self._set_loading(+1)  # busy until the edited model is shown
        self.request(
            job,
            on_result=lambda result: self._on_edited(key, original, *result),
            on_failed=lambda exc: self.edit_failed.emit(key, exc),
            on_done=lambda: self._set_loading(-1),
        )

    def _drop_workshop(self, key: str) -> None:
        """Free the edited clone kept for ``key`` (on the model thread, after any edit
        still queued there): the model under ``key`` was loaded anew."""
        workshop = self._workshop

        def drop(_task: Task) -> None:
            workshop.pop(key, None)

        self.request(drop)

    def in_use(self) -> list[OpenModel]:
        """Every model a view may still show: the open ones, the current one and the
        trained originals of edited ones (caches of others can be let go)."""
        models = [*self.models.values(), *self._originals.values()]
        if self.model is not None:
            models.append(self.model)
        return models

    def _on_edited(
        self, key: str, original: OpenModel, editor: Any, probe: Any, edits: tuple[Any, ...]
    ) -> None:
        now = self._originals.get(key, self._open_as(key))
        if now is None or now.network is not original.network:
            return  # the model was reloaded meanwhile: this edit belonged to the old one
        original = now  # its latest reading (input convention, class names)
        if edits:
            self._editors[key] = editor
            self._edit_lists[key] = edits
            self._originals[key] = original
            n = len(edits)
            title = f"{original.loaded.title}, edited ({n} change{'s' if n > 1 else ''})"
            loaded = replace(self._open_as(key).loaded, model=editor.model, title=title)
            new = OpenModel(loaded, probe, original.fields, lineage=original.lineage)
        else:  # every edit undone: the original model (and everything cached for it)
            self._editors.pop(key, None)
            self._edit_lists.pop(key, None)
            self._originals.pop(key, None)
            new = original
        if key in self.models:
            self.models[key] = new
            self.model_opened.emit(key)
        if self.model is not None and self.model.key == key:
            self._replace_current(new)
        self.edits_changed.emit(key)
        self._forget_stale()

    def _replace_current(self, model: OpenModel) -> None:
        """The current model with other weights: same layers, so the selection stays."""
        self.model = model
        self.activations = None
        self.model_changed.emit(model)
        self.activations_changed.emit(None)
        self.selection_changed.emit(self.selection)
        self._recompute()

    # -- input -----------------------------------------------------------------------------
    def set_input(self, pixels: Any, kind: InputKind, name: str) -> None:
        """Make an image (or a prepared digit) the current input.

        A live frame after a live frame keeps the shown activations until the new ones
        are there: a slow model would otherwise show nothing at all, a fast one flicker.
        """
        follows_frame = (
            kind is InputKind.LIVE
            and self.activations is not None
            and self.activations.input.kind is InputKind.LIVE
        )
        self.input = InputImage(pixels, kind, name)
        self.input_changed.emit(self.input)
        self._recompute(keep_shown=follows_frame)

    def set_drawn_digit(self, digit: Any) -> None:
        """The Draw panel's digit changed (a ``PreparedDigit``, None when empty)."""
        self.drawn_digit = digit
        self.drawn_digit_changed.emit(digit)

    def use_drawn_digit(self) -> bool:
        """Make the drawn digit the current input; False if nothing is drawn."""
        if self.drawn_digit is None:
            return False
        self.set_input(self.drawn_digit, InputKind.DRAWN_DIGIT, DRAWN_DIGIT_NAME)
        return True

    def open_digit(self, pixels: np.ndarray, name: str) -> None:
        """Open a digit image ((28, 28), ink high: an MNIST test digit) as the drawn digit
        and the current input; the Draw panel shows it as a drawing to edit
        (``digit_opened``), and a digit model is made current if the current one does not
        take digits (a model file of 28x28x1 in, 10 out stays)."""
        from engine.models.digits import PreparedDigit
        from engine.models.mnist_data import fits_test_digits

        a = np.asarray(pixels, dtype=np.float32)
        peak = float(a.max()) if a.size else 0.0
        digit = PreparedDigit(a / 255.0 if peak > 1.0 else a)
        # The exact digit first: the Draw panel classifies it, not a re-preparation of
        # the canvas it paints from it.
        self.set_drawn_digit(digit)
        self.digit_opened.emit(np.asarray(pixels), name)
        self.set_input(digit, InputKind.DRAWN_DIGIT, name)
        if self.model is None or not (
            self.model.loaded.spec.digit or fits_test_digits(self.model.network)
        ):
            self.open_model(MNIST_KEY)  # a model file that takes digits stays current

    def open_scene_file(self, path: Path) -> None:
        """Open the scene (or lecture) in ``path``: the main window applies it."""
        self.scene_file_requested.emit(Path(path))

    def open_test_digit(self, index: int) -> None:
        """Open test digit ``index`` of the 500 the app ships (``open_digit``); nothing
        happens when it is the current input already."""
        from engine.models.mnist_data import bundled_test_digits

        x, y = bundled_test_digits()
        if not 0 <= index < len(x):
            self.request_refused.emit(
                f"There is no test digit {index}: the app ships {len(x)} (0 to {len(x) - 1})."
            )
            return
        name = f"test digit #{index} (a {int(y[index])})"
        if self.input is None or self.input.name != name:
            self.open_digit(np.array(x[index]), name)

    def explore_drawn_digit(self) -> None:
        """The drawn digit through the MNIST CNN, in the Activations panel."""
        if not self.use_drawn_digit():
            return
        if self.model is None or self.model.key != MNIST_KEY:
            self.open_model(MNIST_KEY)
        self.panel_requested.emit("activations")

    # -- activations -----------------------------------------------------------------------
    def _recompute(self, keep_shown: bool = False) -> None:
        model, image = self.model, self.input
        if model is None or image is None:
            return
        if self.activations is not None and not keep_shown:
            self.activations = None
            self.activations_changed.emit(None)
        before = self.busy()
        self._computing = True
        if not before:
            self.busy_changed.emit(True)
        self.request(
            lambda _task: compute_activations(model, image),
            key=activations_key(model, image),
            cache=keeps_results(image),
            slot="activations",
            on_result=self._on_computed,
            on_failed=lambda exc: self._on_compute_failed(exc, model, image),
        )

    def _is_current(self, model: OpenModel, image: InputImage) -> bool:
        return model is self.model and image is self.input

    def _end_computing(self) -> None:
        self._computing = False
        if not self.busy():
            self.busy_changed.emit(False)

    def _on_computed(self, acts: Activations) -> None:
        if not self._is_current(acts.model, acts.input):
            return  # a newer model or input replaced this one meanwhile
        self._end_computing()
        self.activations = acts
        self.activations_changed.emit(acts)
        if self.selection.layer not in acts.maps:
            self.select_layer(default_layer(acts.model))
        else:
            self._validate_selection()
        self._select_wanted()

    def _on_compute_failed(self, exc: BaseException, model: OpenModel, image: InputImage) -> None:
        if not self._is_current(model, image):
            return
        self._end_computing()
        self.activations_failed.emit(exc)

    # -- selection -------------------------------------------------------------------------
    def select_layer(self, name: str | None) -> None:
        """Select a layer (its map and pixel are cleared)."""
        if name is not None and self.model is not None:
            from engine.inspection.activations import layer_names

            if name not in layer_names(self.model.network):
                raise ValueError(f"the model has no layer {name!r}")
        if name == self.selection.layer:
            return
        self._set_selection(Selection(name))

    def select_map(self, index: int | None) -> bool:
        """Select map ``index`` of the selected layer; False (nothing changes) when there
        is no such map (say while a new model's activations are computing)."""
        if index is None:
            self._set_selection(replace(self.selection, map=None, pixel=None))
            return True
        a = self.activations.layer(self.selection.layer) if self.activations else None
        if a is None or a.ndim != 3 or not 0 <= index < a.shape[2]:
            return False
        if index != self.selection.map:
            self._set_selection(replace(self.selection, map=index, pixel=None))
        return True

    def select_pixel(self, row: int, col: int) -> bool:
        """Select pixel (row, col) of the selected map; False when there is none."""
        a = self.activations.layer(self.selection.layer) if self.activations else None
        if a is None or a.ndim != 3 or self.selection.map is None:
            return False
        if not (0 <= row < a.shape[0] and 0 <= col < a.shape[1]):
            return False
        self._set_selection(replace(self.selection, pixel=(row, col)))
        return True

    def request_selection(self, key: str, layer: str | None, index: int | None = None) -> None:
        """Select ``layer`` and its map ``index`` of the model ``key`` as soon as that
        model's activations for the current input are in (at once when they are): a
        scene asks this while its model and input are still loading."""
        self._wanted = (key, layer, index)
        self._select_wanted()

    def _select_wanted(self) -> None:
        acts = self.activations
        if self._wanted is None or acts is None or acts.model is not self.model:
            return
        key, layer, index = self._wanted
        if acts.model.key != key:
            return
        self._wanted = None
        if layer is not None:
            if layer not in acts.maps:
                self.request_refused.emit(
                    f"{acts.model.loaded.title} has no layer {layer!r} to show; "
                    f"showing {self.selection.layer} instead."
                )
                return
            self.select_layer(layer)
        if index is not None and not self.select_map(index):
            a = self.selected_maps()
            count = a.shape[2] if a is not None and a.ndim == 3 else 0
            self.request_refused.emit(
                f"{layer or self.selection.layer} has {count} maps (0 to {count - 1}); "
                f"there is no map {index}."
                if count
                else f"{layer or self.selection.layer} has no maps to choose {index} from."
            )

    def _validate_selection(self) -> None:
        a = self.activations.layer(self.selection.layer) if self.activations else None
        s = self.selection
        if s.map is not None and (a is None or a.ndim != 3 or s.map >= a.shape[2]):
            self._set_selection(replace(s, map=None, pixel=None))

    def _set_selection(self, selection: Selection) -> None:
        if selection != self.selection:
            self.selection = selection
            self.selection_changed.emit(selection)

    def set_target_class(self, index: int | None) -> None:
        """Explain class ``index`` of the current model (None: the top class)."""
        if index is not None:
            n = self.output_size()
            if n is not None and not 0 <= index < n:
                raise ValueError(f"class must be 0..{n - 1}. Received: {index}")
        if index != self.target_class:
            self.target_class = index
            self.target_class_changed.emit(index)

    def output_size(self) -> int | None:
        """How many classes the current model's output has (None: not a vector)."""
        if self.model is None:
            return None
        from engine.inspection.activations import output_shape_of

        shape = output_shape_of(self.model.network)
        return int(shape[-1]) if len(shape) == 1 and shape[-1] is not None else None

    def explained_class(self) -> int | None:
        """The class explanations are about: the chosen one, else the top one."""
        if self.target_class is not None:
            return self.target_class
        if self.activations is None:
            return None
        output = self.activations.output
        return int(np.argmax(output)) if output.ndim == 1 else None

    # -- what a view needs -----------------------------------------------------------------
    def selected_maps(self) -> np.ndarray | None:
        """The selected layer's output for the current input, or None."""
        return None if self.activations is None else self.activations.layer(self.selection.layer)

    def selected_map(self) -> np.ndarray | None:
        """The selected (H, W) map, or None."""
        a = self.selected_maps()
        m = self.selection.map
        if a is None or a.ndim != 3 or m is None or m >= a.shape[2]:
            return None
        return a[:, :, m]


def _weights_of(model: OpenModel) -> Any:
    return getattr(model.loaded, "weights", "imagenet")
