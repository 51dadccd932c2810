"""One zoom for every text in the window, and presenter mode (full screen, big, strong).

Text sizes are written once, as the pixel size they have at zoom 1 (``base`` pixels: the
application font is 12 px), and every widget asks this module for the size to draw:
``theme().px(14)``. A change of zoom (Ctrl +, Ctrl -, Ctrl 0) or of presenter mode
emits ``changed``; the widgets registered with ``style_text`` and ``style_plot`` are
restyled here, and a widget that paints its own text connects ``changed`` to
``update``. Presenter mode has a zoom of its own (default 2x, so the 12 px application
font becomes 24 px on a projector) and stronger pens (``strong()``). Both zooms are
remembered (QSettings).
"""

from __future__ import annotations

import weakref
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontInfo, QTextDocument
from PySide6.QtWidgets import QApplication, QWidget

#: The application font's pixel size at zoom 1; every other size is relative to it.
BASE_PX = 12
#: No text a person reads is smaller than this at zoom 1.
MIN_BASE_PX = 12
#: The zoom steps Ctrl + and Ctrl - move between.
ZOOMS = (0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0)
#: Presenter mode's default zoom: the 12 px application font becomes 24 px.
PRESENTER_ZOOM = 2.0
#: The smallest text presenter mode allows (the projector test checks it).
PRESENTER_MIN_PX = 24

_SIZE_SETTERS = {
    "minimum_width": "setMinimumWidth",
    "maximum_width": "setMaximumWidth",
    "fixed_width": "setFixedWidth",
    "minimum_height": "setMinimumHeight",
    "maximum_height": "setMaximumHeight",
    "fixed_height": "setFixedHeight",
}

# Colours for text and lines, ordinary and strong (presenter mode: projectors wash out
# light greys).
_TEXT = {False: QColor(40, 40, 40), True: QColor(0, 0, 0)}
_AXIS = {False: QColor(110, 110, 110), True: QColor(0, 0, 0)}


class Theme(QObject):
    """The zoom and presenter mode of the whole window.

    Signals
    -------
    changed()
        The zoom or presenter mode changed; every text size and pen is to be read again.
    """

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._presenter = False
        self._zoom = {False: 1.0, True: PRESENTER_ZOOM}
        self._remember = True
        self._texts: weakref.WeakKeyDictionary[QWidget, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._plots: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._labels: weakref.WeakKeyDictionary[Any, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._sizes: weakref.WeakKeyDictionary[QWidget, dict[str, float]] = (
            weakref.WeakKeyDictionary()
        )

    # -- the zoom ------------------------------------------------------------------------
    def restore(self, remember: bool = True) -> None:
        """Read the remembered zooms (``remember=False``: neither read nor write them)."""
        self._remember = remember
        if remember:
            s = QSettings()
            self._zoom[False] = _zoom_value(s.value("view/zoom"), 1.0)
            self._zoom[True] = _zoom_value(s.value("view/presenter_zoom"), PRESENTER_ZOOM)
        self._apply()

    def zoom(self) -> float:
        """The zoom now in force (presenter mode's while it is on)."""
        return self._zoom[self._presenter]

    def set_zoom(self, zoom: float) -> None:
        zoom = _zoom_value(zoom, 1.0)
        if zoom == self.zoom():
            return
        self._zoom[self._presenter] = zoom
        if self._remember:
            key = "view/presenter_zoom" if self._presenter else "view/zoom"
            QSettings().setValue(key, zoom)
        self._apply()

    def zoom_in(self) -> None:
        self.set_zoom(next((z for z in ZOOMS if z > self.zoom() + 1e-6), ZOOMS[-1]))

    def zoom_out(self) -> None:
        self.set_zoom(next((z for z in reversed(ZOOMS) if z < self.zoom() - 1e-6), ZOOMS[0]))

    def reset_zoom(self) -> None:
        """Zoom 1, or presenter mode's default zoom while it is on."""
        self.set_zoom(PRESENTER_ZOOM if self._presenter else 1.0)

    def presenter(self) -> bool:
        return self._presenter

    def set_presenter(self, on: bool) -> None:
        if on != self._presenter:
            self._presenter = on
            self._apply()

    def strong(self) -> bool:
        """True in presenter mode: darker text and axes, thicker lines."""
        return self._presenter

    def px(self, base: float) -> int:
        """The pixel size to draw a text of ``base`` pixels (at zoom 1) now.

        >>> Theme().px(12), Theme().px(8)
        (12, 12)
        """
        return round(max(base, MIN_BASE_PX) * self.zoom())

    def min_px(self) -> int:
        """The smallest text size in force (presenter mode promises 24 px)."""
        return self.px(MIN_BASE_PX)

    def text_colour(self) -> QColor:
        return QColor(_TEXT[self.strong()])

    def axis_colour(self) -> QColor:
        return QColor(_AXIS[self.strong()])

    def line_width(self, base: float) -> float:
        """A line's width: ``base`` pixels, 1.5x in presenter mode."""
        return base * (1.5 if self.strong() else 1.0)

    def size(self, base: float) -> int:
        """A length that holds text (a column's width, a row's height): ``base`` pixels
        at zoom 1, scaled with the zoom."""
        return round(base * self.zoom())

    def follow(self, receiver: QObject, slot: Any) -> None:
        """Call ``slot`` after every change, once the widgets have taken their new fonts
        (the next turn of the event loop: a size measured from a font, a column fitted
        to its text); it stops when ``receiver`` is deleted."""
        _Follower(receiver, slot, self)

    # -- widgets that are restyled here --------------------------------------------------
    def style_text(
        self, widget: QWidget, px: float = BASE_PX, bold: bool = False, mono: bool = False
    ) -> None:
        """Give ``widget`` a text of ``px`` pixels at zoom 1 (bold, monospaced), followed
        through every zoom."""
        self._texts[widget] = {"px": px, "bold": bold, "mono": mono}
        self._style(widget)

    def style_plot(self, plot: Any, px: float = BASE_PX) -> None:
        """Axes of a pyqtgraph ``PlotItem`` (or ``PlotWidget``): tick labels of ``px``
        pixels at zoom 1, in a dark pen that is black in presenter mode."""
        self._plots[plot] = px
        self._style_plot(plot, px)

    def style_size(self, widget: QWidget, **bases: float) -> None:
        """Limits of ``widget`` that hold text, in pixels at zoom 1, scaled with every
        zoom: ``minimum_width``, ``maximum_width``, ``fixed_width`` and the same for
        height (``style_size(column, maximum_width=360)``)."""
        unknown = set(bases) - set(_SIZE_SETTERS)
        if unknown:
            raise ValueError(f"unknown size {sorted(unknown)}; choose from {list(_SIZE_SETTERS)}")
        self._sizes.setdefault(widget, {}).update(bases)
        self._size(widget)

    def _size(self, widget: QWidget) -> None:
        for name, base in self._sizes[widget].items():
            getattr(widget, _SIZE_SETTERS[name])(self.size(base))

    def style_label(self, label: Any, px: float = BASE_PX, bold: bool = False) -> None:
        """A pyqtgraph ``LabelItem`` (a view's title) of ``px`` pixels at zoom 1, followed
        through every zoom (its later ``setText`` calls keep the size)."""
        self._labels[label] = {"px": px, "bold": bold}
        self._style_label(label)

    def _style_label(self, label: Any) -> None:
        spec = self._labels[label]
        label.setText(label.text, size=f"{self.px(spec['px'])}px", bold=spec["bold"])

    def _style(self, widget: QWidget) -> None:
        spec = self._texts[widget]
        font = QFont(widget.font())
        if spec["mono"]:
            font.setFamily("monospace")
            font.setStyleHint(QFont.StyleHint.TypeWriter)
        font.setBold(spec["bold"])
        font.setPixelSize(self.px(spec["px"]))
        widget.setFont(font)

    def _style_plot(self, plot: Any, px: float) -> None:
        item = plot.getPlotItem() if hasattr(plot, "getPlotItem") else plot
        font = QFont()
        font.setPixelSize(self.px(px))
        for name in ("left", "bottom", "right", "top"):
            axis = item.getAxis(name)
            axis.setStyle(tickFont=font)
            # The axis' own label ("probability", "epoch") in the same size.
            axis.labelStyle["font-size"] = f"{self.px(px)}px"
            axis.setTextPen(self.text_colour())
            axis.setPen(self.axis_colour(), width=self.line_width(1.0))
            # Room for the bigger labels: the axis grows with them.
            if name in ("left", "right"):
                axis.setWidth(None)
            else:
                axis.setHeight(None)
        title = getattr(item, "titleLabel", None)
        if title is not None:  # the plot's title: a little bigger than its ticks
            title.opts["size"] = f"{self.px(px + 2)}px"
            if title.isVisible():
                title.setText(title.text)

    def _apply(self) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            font = QFont(app.font())
            font.setPixelSize(self.px(BASE_PX))
            app.setFont(font)
        for widget in list(self._texts.keys()):
            if _alive(widget, self._texts):
                self._style(widget)
        for plot, px in list(self._plots.items()):
            if _alive(plot, self._plots):
                self._style_plot(plot, px)
        for label in list(self._labels.keys()):
            if _alive(label, self._labels):
                self._style_label(label)
        for widget in list(self._sizes.keys()):
            if _alive(widget, self._sizes):
                self._size(widget)
        self.changed.emit()


class _Follower(QObject):
    """Runs a slot a turn after each change of the theme; a child of its receiver, so it
    goes (and its connection with it) when the receiver goes."""

    def __init__(self, receiver: QObject, slot: Any, source: Theme) -> None:
        super().__init__(receiver)
        self._slot = slot
        source.changed.connect(self._later)

    def _later(self) -> None:
        QTimer.singleShot(0, self, self._slot)


def _alive(obj: Any, registry: Any) -> bool:
    """False (and ``obj`` forgotten) once Qt has deleted the object behind ``obj``."""
    if shiboken6.isValid(obj):
        return True
    registry.pop(obj, None)
    return False


def _zoom_value(value: object, default: float) -> float:
    """A zoom within the steps' range, or ``default`` when ``value`` is not one."""
    try:
        zoom = float(str(value))
    except ValueError:
        return default
    return zoom if ZOOMS[0] <= zoom <= ZOOMS[-1] else default


_theme: Theme | None = None


def theme() -> Theme:
    """The one ``Theme`` of the application."""
    global _theme
    if _theme is None:
        _theme = Theme()
    return _theme


# -- the walker: every text a person sees, measured --------------------------------------
def small_texts(root: QWidget, min_px: int) -> list[str]:
    """Every visible text under ``root`` drawn smaller than ``min_px`` pixels, as
    ``"ClassName 'text': N px"`` (empty: none).

    It visits each widget that is shown (``isVisible()``) and has a size, and measures
    what that widget draws: the font of a label, button, drop-down, text field, spin
    box, group box title, tab, menu bar entry, status message and progress text; every
    row of an item view with the item's own font (and its header's sections); the
    glyphs of rich text and text documents as laid out (an ``<h3>`` or a
    ``font-size`` of its own counts); the items of a graphics view that lie in sight
    (axis tick labels, text items, simple text items) scaled by what the view and the
    item's transforms make of them on screen; and, for a widget or graphics item that
    paints text itself, the sizes it reports having painted last
    (``text_pixel_sizes()``).
    """
    found: list[str] = []
    for widget in [root, *root.findChildren(QWidget)]:
        if not (widget.isVisible() and widget.width() > 0 and widget.height() > 0):
            continue
        for text, px in widget_text_sizes(widget):
            if round(px) < min_px:
                found.append(f"{type(widget).__name__} {_short(text)!r}: {round(px)} px")
    return found


def widget_text_sizes(widget: QWidget) -> list[tuple[str, float]]:
    """What ``widget`` itself draws (not its children): (text, pixel size) pairs."""
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QAbstractSpinBox,
        QComboBox,
        QGraphicsView,
        QGroupBox,
        QHeaderView,
        QLabel,
        QLineEdit,
        QMenuBar,
        QPlainTextEdit,
        QProgressBar,
        QStatusBar,
        QTabBar,
        QTextEdit,
        QToolButton,
    )

    out: list[tuple[str, float]] = []
    font = widget.font()
    if isinstance(widget, QLabel):
        if widget.text():
            out += _label_sizes(widget)
    elif isinstance(widget, QAbstractButton):
        icon_only = (
            isinstance(widget, QToolButton)
            and widget.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonIconOnly
            and not widget.icon().isNull()
        )
        if widget.text() and not icon_only:
            out.append((widget.text(), _font_px(font)))
    elif isinstance(widget, QComboBox):
        if widget.currentText():
            out.append((widget.currentText(), _font_px(font)))
    elif isinstance(widget, QLineEdit):
        text = widget.text() or widget.placeholderText()
        if text:
            out.append((text, _font_px(font)))
    elif isinstance(widget, QAbstractSpinBox):
        if widget.text():
            out.append((widget.text(), _font_px(font)))
    elif isinstance(widget, QGroupBox):
        if widget.title():
            out.append((widget.title(), _font_px(font)))
    elif isinstance(widget, QTabBar):
        for i in range(widget.count()):
            if widget.isTabVisible(i) and widget.tabText(i):
                out.append((widget.tabText(i), _font_px(font)))
    elif isinstance(widget, QHeaderView):
        out += _header_sizes(widget)
    elif isinstance(widget, (QTextEdit, QPlainTextEdit)):
        if widget.document().characterCount() > 1:
            out += _document_sizes(widget.document())
    elif isinstance(widget, QAbstractItemView):
        out += _item_sizes(widget)
    elif isinstance(widget, QGraphicsView):
        out += _scene_sizes(widget)
    elif isinstance(widget, QMenuBar):
        for action in widget.actions():
            if action.isVisible() and action.text():
                out.append((action.text(), _font_px(QFont(action.font()).resolve(font))))
    elif isinstance(widget, QStatusBar):
        if widget.currentMessage():
            out.append((widget.currentMessage(), _font_px(font)))
    elif isinstance(widget, QProgressBar):
        if widget.isTextVisible() and widget.text():
            out.append((widget.text(), _font_px(font)))
    painted = getattr(widget, "text_pixel_sizes", None)
    if callable(painted):
        out += [("(painted)", float(px)) for px in painted()]
    return out


def _short(text: str, n: int = 40) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _font_px(font: QFont) -> float:
    """The pixel size a font is drawn at (point sizes converted by the screen's DPI)."""
    return float(QFontInfo(font).pixelSize())


def _label_sizes(label: Any) -> list[tuple[str, float]]:
    from PySide6 import QtGui  # Qt.mightBeRichText lives in QtGui's Qt namespace

    text = label.text()
    rich = label.textFormat() == Qt.TextFormat.RichText or (
        label.textFormat() == Qt.TextFormat.AutoText and QtGui.Qt.mightBeRichText(text)
    )
    if not rich:
        return [(text, _font_px(label.font()))]
    doc = QTextDocument()
    doc.setDefaultFont(label.font())
    doc.setHtml(text)
    return _document_sizes(doc)


def _document_sizes(doc: QTextDocument, blocks: int = 300) -> list[tuple[str, float]]:
    """The size of every run of glyphs of ``doc`` as laid out (the first ``blocks``)."""
    doc.documentLayout()  # lays the document out if it is not yet
    out: list[tuple[str, float]] = []
    block = doc.begin()
    while block.isValid() and blocks > 0:
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.text().strip():
                for run in fragment.glyphRuns():
                    out.append((fragment.text(), float(run.rawFont().pixelSize())))
            it += 1
        block = block.next()
        blocks -= 1
    return out


def _header_sizes(header: Any) -> list[tuple[str, float]]:
    model = header.model()
    if model is None:
        return []
    out: list[tuple[str, float]] = []
    for i in range(min(header.count(), 1000)):
        if header.isSectionHidden(i):
            continue
        text = model.headerData(i, header.orientation(), Qt.ItemDataRole.DisplayRole)
        if text in (None, ""):
            continue
        font = model.headerData(i, header.orientation(), Qt.ItemDataRole.FontRole)
        font = QFont(font).resolve(header.font()) if isinstance(font, QFont) else header.font()
        out.append((str(text), _font_px(font)))
    return out


def _item_sizes(view: Any, limit: int = 5000) -> list[tuple[str, float]]:
    """Every item's text of a list, table or tree (expanded rows, shown columns), in the
    item's own font where it has one."""
    from PySide6.QtWidgets import QListView, QTableView, QTreeView

    model = view.model()
    if model is None:
        return []
    out: list[tuple[str, float]] = []
    stack = [view.rootIndex()]
    seen = 0
    while stack and seen < limit:
        parent = stack.pop()
        for r in range(model.rowCount(parent)):
            if isinstance(view, QTreeView) and view.isRowHidden(r, parent):
                continue
            if isinstance(view, (QTableView, QListView)) and view.isRowHidden(r):
                continue
            if isinstance(view, QListView):
                columns: Any = [view.modelColumn()]
            else:
                columns = range(model.columnCount(parent))
            for c in columns:
                if isinstance(view, QTableView) and view.isColumnHidden(c):
                    continue
                if isinstance(view, QTreeView) and view.isColumnHidden(c):
                    continue
                index = model.index(r, c, parent)
                seen += 1
                text = index.data(Qt.ItemDataRole.DisplayRole)
                if text in (None, ""):
                    continue
                font = index.data(Qt.ItemDataRole.FontRole)
                font = QFont(font).resolve(view.font()) if isinstance(font, QFont) else view.font()
                out.append((str(text), _font_px(font)))
            first = model.index(r, 0, parent)
            if isinstance(view, QTreeView) and view.isExpanded(first):
                stack.append(first)
    return out


def _scene_sizes(view: Any) -> list[tuple[str, float]]:
    """The texts of a graphics view's items in sight, in screen pixels."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QGraphicsSimpleTextItem, QGraphicsTextItem

    scene = view.scene()
    if scene is None:
        return []
    in_sight = view.mapToScene(view.viewport().rect()).boundingRect()
    to_view = view.viewportTransform()
    app_font = QApplication.font()
    out: list[tuple[str, float]] = []
    for item in scene.items():
        if not item.isVisible() or item.effectiveOpacity() <= 0.0:
            continue
        if not item.sceneBoundingRect().intersects(in_sight):
            continue
        t = item.deviceTransform(to_view)
        scale = abs(t.m11() * t.m22() - t.m12() * t.m21()) ** 0.5
        if isinstance(item, pg.AxisItem):
            if item.style.get("showValues", True):
                font = item.style.get("tickFont") or app_font
                out.append((f"{item.orientation} axis", _font_px(font) * scale))
        elif isinstance(item, QGraphicsTextItem):
            if item.toPlainText().strip():
                for text, px in _document_sizes(item.document()):
                    out.append((text, px * scale))
        elif isinstance(item, QGraphicsSimpleTextItem):
            if item.text().strip():
                out.append((item.text(), _font_px(item.font()) * scale))
        painted = getattr(item, "text_pixel_sizes", None)
        if callable(painted):
            out += [(f"{type(item).__name__} (painted)", px * scale) for px in painted()]
    return out
