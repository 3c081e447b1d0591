"""The console's drop-downs, written out in Python and kept per network version.

Django's ``Select`` renders a template per option. The finder's provider list has 600
options on a large network, the finder and the patient context (visit types, locations)
are drawn again after most console actions, and the options change only when someone
edits the network. So the options of a list read from a table the network version covers
(locations, providers, visit types: migration 0005's trigger moves the version on every
write to them, however made) are rendered once per version per process; each drawing then
costs one single-row read and marks its selected option in the kept HTML. Elsewhere
(SQLite has no version row, other tables have no trigger) every drawing reads and renders
the options afresh.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django import forms
from django.db import connections
from django.forms.renderers import DjangoTemplates
from django.forms.utils import flatatt
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

# Tables migration 0005's trigger covers that console drop-downs list. A label must be
# made of these tables' own columns only (the models' __str__ are).
VERSIONED_TABLES = frozenset(
    {"scheduling_location", "scheduling_provider", "scheduling_appointmenttype"}
)
KEPT_MAX = 64

# (field class, label function, empty label, value field, SQL, database) -> (version, HTML)
_kept: dict[tuple[Any, ...], tuple[Any, str]] = {}


# Set while a response draws its panels: each database's version, read once for all of
# its drop-downs (a booking's redraw has four).
_read_versions: ContextVar[dict[str, Any] | None] = ContextVar("network_versions", default=None)


@contextmanager
def one_version_per_drawing() -> Iterator[None]:
    token = _read_versions.set({})
    try:
        yield
    finally:
        _read_versions.reset(token)


def network_version(alias: str) -> Any:
    """The network's version on this database (None where there is none: no caching).

    Read on the database the options are read from, and before them, so the options kept
    under a version are never older than it (within one drawing, before the first)."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return None
    read = _read_versions.get()
    if read is not None and alias in read:
        return read[alias]
    with connection.cursor() as cursor:
        cursor.execute("SELECT version FROM scheduling_network_version WHERE id = 1")
        row = cursor.fetchone()
    version = row[0] if row else None
    if read is not None:
        read[alias] = version
    return version


def _key(choices: Any) -> tuple[Any, ...] | None:
    """What the options depend on, when the network version tracks all of it."""
    queryset, field = getattr(choices, "queryset", None), getattr(choices, "field", None)
    if queryset is None or field is None:
        return None
    if queryset.model._meta.db_table not in VERSIONED_TABLES:
        return None
    query = queryset.query
    if len(query.alias_map) > 1 or query.select_related or query.annotations or query.extra:
        return None  # reads another table, which the version may not cover
    try:
        sql = str(query)
    except Exception:  # an empty queryset (.none()) has no SQL: nothing worth keeping
        return None
    if sql.count("SELECT") != 1:
        return None  # a subquery reads another table
    label = getattr(field.label_from_instance, "__func__", field.label_from_instance)
    return (type(field), label, field.empty_label, field.to_field_name, sql, queryset.db)


def _options_html(choices: Any) -> str:
    return format_html_join(
        "",
        '<option value="{}">{}</option>',
        (("" if value is None else value, label) for value, label in choices),
    )


def options_html(choices: Any) -> str:
    """Every option, none selected: kept per network version where one tracks them."""
    key = _key(choices)
    version = network_version(key[-1]) if key is not None else None
    if key is None or version is None:
        return _options_html(choices)
    kept = _kept.get(key)
    if kept is not None and kept[0] == version:
        return kept[1]
    html = _options_html(choices)
    if len(_kept) >= KEPT_MAX:
        _kept.clear()
    _kept[key] = (version, html)
    return html


def mark_selected(options: str, values: list[str], multiple: bool) -> str:
    """The options with these values selected, as Django's Select marks them: the first
    option of each value, and at most one option unless the list allows several."""
    for value in dict.fromkeys(values):
        tag = f'<option value="{escape(value)}">'
        if tag in options:
            options = options.replace(tag, f'<option value="{escape(value)}" selected>', 1)
            if not multiple:
                break
    return options


class PlainSelect(forms.Select):
    """A drop-down of flat choices written in Python, its options kept per network
    version where one tracks them (see the module's docstring). Same markup as Django's
    Select but for the whitespace between tags."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        final_attrs = self.build_attrs(self.attrs, attrs)
        if self.allow_multiple_selected:
            final_attrs["multiple"] = True
        options = mark_selected(
            options_html(self.choices), self.format_value(value), self.allow_multiple_selected
        )
        # The options were escaped by format_html_join, the selected values by escape().
        options = mark_safe(options)  # noqa: S308
        return format_html('<select name="{}"{}>{}</select>', name, flatatt(final_attrs), options)


class PlainSelectMultiple(forms.SelectMultiple, PlainSelect):
    """The same for a list that allows several choices."""

    render = PlainSelect.render


def _attrs(attrs: dict[str, Any]) -> str:
    """django/forms/widgets/attrs.html: False left out, True as a bare name."""
    return "".join(
        format_html(" {}", name) if value is True else format_html(' {}="{}"', name, value)
        for name, value in attrs.items()
        if value is not False
    )


def _input(widget: dict[str, Any]) -> str:
    value = widget["value"]
    return format_html(
        '<input type="{}" name="{}"{}{}>',
        widget["type"],
        widget["name"],
        format_html(' value="{}"', value) if value is not None else "",
        mark_safe(_attrs(widget["attrs"])),  # noqa: S308 (escaped by format_html above)
    )


def _textarea(widget: dict[str, Any]) -> str:
    return format_html(
        '<textarea name="{}"{}>\n{}</textarea>',
        widget["name"],
        mark_safe(_attrs(widget["attrs"])),  # noqa: S308 (escaped by format_html above)
        widget["value"] or "",
    )


def _select(widget: dict[str, Any]) -> str | None:
    if any(group_name for group_name, _, _ in widget["optgroups"]):
        return None  # option groups: Django's own template
    options = "".join(
        format_html(
            '\n  <option value="{}"{}>{}</option>\n',
            option["value"],
            mark_safe(_attrs(option["attrs"])),  # noqa: S308 (escaped by format_html above)
            option["label"],
        )
        for _, group, _ in widget["optgroups"]
        for option in group
    )
    return format_html(
        '<select name="{}"{}>{}\n</select>',
        widget["name"],
        mark_safe(_attrs(widget["attrs"])),  # noqa: S308 (escaped by format_html above)
        mark_safe(options),  # noqa: S308 (escaped by format_html above)
    )


_INPUTS = (
    "text",
    "date",
    "datetime",
    "time",
    "number",
    "email",
    "hidden",
    "checkbox",
    "password",
    "url",
    "tel",
)
WRITERS: dict[str, Any] = {
    **{f"django/forms/widgets/{kind}.html": _input for kind in _INPUTS},
    "django/forms/widgets/input.html": _input,
    "django/forms/widgets/textarea.html": _textarea,
    "django/forms/widgets/select.html": _select,
}


class PythonWidgets(DjangoTemplates):
    """Django's form renderer, but the plain widgets (inputs, text areas, drop-downs
    without option groups) are written in Python with the markup of Django's own
    templates: a console answer draws twenty-odd of them, each otherwise a template
    render. Anything else (errors, option groups, other widgets) renders as Django does."""

    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        writer = WRITERS.get(template_name)
        html = writer(context["widget"]) if writer is not None else None
        if html is None:
            return super().render(template_name, context, request)
        return html


PYTHON_WIDGETS = PythonWidgets()


class ConsoleForm(forms.Form):
    """A console form: its plain widgets written in Python (``PythonWidgets``)."""

    default_renderer = PYTHON_WIDGETS
