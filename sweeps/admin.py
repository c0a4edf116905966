"""The admin: define search spaces (parameters inline); look at sweeps, trials and events.

Search spaces are validated as a whole by :func:`sweeps.search.space.parse_space`, the same
rules as the API and spec files; each error is shown on the parameter row and field it
belongs to and nothing is saved. The JSON fields (choices, condition values) pass the same
input guard as API bodies (:mod:`sweeps.guard`) before any rule reads them. Sweeps and trials are read-only here: their state changes
go through :mod:`sweeps.services` (the dashboard and the API).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput
from django.http import HttpRequest

from sweeps.guard import parse_json
from sweeps.models import Event, Parameter, RungResult, SearchSpace, Sweep, Trial
from sweeps.search.space import SpaceError, parse_space

# Spec keys as parse_space names them -> the admin form field that holds them.
SPEC_TO_FIELD = {"type": "kind", "condition": "condition_parent"}


class GuardedJSONField(forms.JSONField):
    """Django's JSON form field parsed by :func:`sweeps.guard.parse_json`: a deep list is a
    form error, not a ``RecursionError``; a NUL or a 30-digit number never reaches the
    database."""

    def to_python(self, value: Any) -> Any:
        if self.disabled or value in self.empty_values:
            return super().to_python(value)
        if isinstance(value, str):
            try:
                return parse_json(value, "value")
            except SpaceError as exc:
                raise ValidationError(
                    "; ".join(exc.errors.values()), code="invalid", params={"value": value}
                ) from None
        return super().to_python(value)

    def prepare_value(self, value: Any) -> Any:
        # An empty list (the fields' default) shows as an empty box, not "null" or "[]".
        if value is None or value == []:
            return ""
        return super().prepare_value(value)

    def bound_data(self, data: Any, initial: Any) -> Any:
        # Showing the form again re-reads the text; Django's json.loads would recurse.
        if self.disabled or data is None:
            return super().bound_data(data, initial)
        try:
            return parse_json(data, "value")
        except SpaceError:
            return InvalidJSONInput(data)


PARAMETER_FIELDS = ("position", "name", "kind", "low", "high", "log", "step", "choices",
                    "condition_parent", "condition_values")  # fmt: skip


def _width(em: float) -> dict[str, str]:
    return {"style": f"width: {em}em; box-sizing: border-box"}


# One parameter a row inside a 1,440 px window: the admin's defaults (20em text inputs,
# 40x10 text areas) made the row 2,500 px wide.
PARAMETER_WIDGETS = {
    "position": forms.NumberInput(attrs=_width(3.5)),
    "name": forms.TextInput(attrs=_width(8)),
    "kind": forms.Select(attrs=_width(7)),
    "low": forms.NumberInput(attrs={**_width(6), "step": "any"}),
    "high": forms.NumberInput(attrs={**_width(6), "step": "any"}),
    "step": forms.NumberInput(attrs={**_width(5), "step": "any"}),
    "choices": forms.Textarea(attrs={**_width(9), "rows": 1, "placeholder": '["adam", "sgd"]'}),
    "condition_parent": forms.TextInput(attrs=_width(7)),
    "condition_values": forms.Textarea(attrs={**_width(8), "rows": 1, "placeholder": "[...]"}),
}


class ParameterForm(forms.ModelForm):  # type: ignore[type-arg]
    choices = GuardedJSONField(
        required=False,
        help_text=Parameter._meta.get_field("choices").help_text,
        widget=PARAMETER_WIDGETS["choices"],
    )
    condition_values = GuardedJSONField(
        required=False,
        help_text=Parameter._meta.get_field("condition_values").help_text,
        widget=PARAMETER_WIDGETS["condition_values"],
    )

    class Meta:
        model = Parameter
        fields = PARAMETER_FIELDS
        widgets = PARAMETER_WIDGETS

    def clean_choices(self) -> Any:
        # The model's default: an empty field is an empty list, not null.
        value = self.cleaned_data.get("choices")
        return [] if value is None else value

    def clean_condition_values(self) -> Any:
        value = self.cleaned_data.get("condition_values")
        return [] if value is None else value


class ParameterFormSet(forms.BaseInlineFormSet):  # type: ignore[type-arg]
    def clean(self) -> None:
        super().clean()  # includes Django's check for a name used twice
        by_name: dict[str, forms.Form] = {}
        spec: dict[str, Any] = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or form.errors:
                continue
            name = data["name"]
            by_name[name] = form
            fields = {f: data.get(f) for f in ("name", "kind", "low", "high", "log", "step", "choices",
                                               "condition_parent", "condition_values")}  # fmt: skip
            spec[name] = Parameter(**fields).to_spec()
        if any(form.errors for form in self.forms):
            return
        try:
            parse_space(spec)
        except SpaceError as exc:
            general = []
            for path, message in exc.errors.items():
                parts = path.split(".")
                form = by_name.get(parts[1]) if len(parts) > 1 else None
                if form is None:
                    general.append(message)
                    continue
                field = SPEC_TO_FIELD.get(parts[2], parts[2]) if len(parts) > 2 else "name"
                form.add_error(field if field in form.fields else None, f"{path}: {message}")
            if general:
                raise ValidationError(general) from exc


class ParameterInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Parameter
    form = ParameterForm
    formset = ParameterFormSet
    extra = 1
    fields = PARAMETER_FIELDS


@admin.register(SearchSpace)
class SearchSpaceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "owner", "n_parameters", "updated_at")
    search_fields = ("name", "description")
    inlines = [ParameterInline]
    readonly_fields = ("owner",)

    @admin.display(description="parameters")
    def n_parameters(self, obj: SearchSpace) -> int:
        return obj.parameters.count()

    def save_model(self, request: HttpRequest, obj: SearchSpace, form: Any, change: bool) -> None:
        if not change:
            obj.owner = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows whose changes must go through the service functions."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TrialInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Trial
    fields = ("number", "status", "bracket", "rung", "budget", "best_value", "params", "worker")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Sweep)
class SweepAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "name",
        "status",
        "trainer",
        "owner",
        "max_trials",
        "concurrency",
        "created_at",
    )
    list_filter = ("status", "trainer")
    search_fields = ("name",)
    inlines = [TrialInline]


@admin.register(Trial)
class TrialAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "sweep",
        "number",
        "status",
        "bracket",
        "rung",
        "budget",
        "best_value",
        "worker",
    )
    list_filter = ("status",)
    search_fields = ("sweep__name",)


@admin.register(RungResult)
class RungResultAdmin(ReadOnlyAdmin):
    list_display = ("trial", "rung", "budget", "value", "manual", "created_at")


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "sweep", "trial", "user", "kind", "message")
    list_filter = ("kind",)
