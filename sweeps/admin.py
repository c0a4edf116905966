"""The admin: define search spaces (parameters inline); look at sweeps, trials and events.

Search spaces are validated as a whole by :func:`sweeps.search.space.parse_space`, the same
rules as the API and spec files; each error is shown on the parameter row and field it
belongs to and nothing is saved. Sweeps and trials are read-only here: their state changes
go through :mod:`sweeps.services` (the dashboard and the API).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from sweeps.models import Event, Parameter, RungResult, SearchSpace, Sweep, Trial
from sweeps.search.space import SpaceError, parse_space

# Spec keys as parse_space names them -> the admin form field that holds them.
SPEC_TO_FIELD = {"type": "kind", "condition": "condition_parent"}


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
    formset = ParameterFormSet
    extra = 1
    fields = ("position", "name", "kind", "low", "high", "log", "step", "choices",
              "condition_parent", "condition_values")  # fmt: skip


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
