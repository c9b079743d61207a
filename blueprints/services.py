"""Templates and bulk runs: saving and revising a template, running it once, and running it for
every row of a CSV or JSON list with one reserve of credits for the whole batch.

Money of a batch (billing is handed numbers): `create_batch` reserves the sum of its rows'
prices once, named by the batch's id. A row whose turn comes becomes a composition that carries
its share as its hold (`create_composition(prepaid=...)`: no reserve of its own), so the
composition's end gives the share back as usual. A row that never becomes a composition
(refused when its turn came, or canceled) gives its share back with a release named by the row's
id. Each share goes back exactly once: rows change state only by conditional UPDATEs, in the
transaction that moves the money."""

import csv
import io
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User, Workspace
from bananasite.errors import AppError, InvalidState, ValidationFailed
from bananasite.fetch import fetch_image
from bananasite.tasks import enqueue_on_commit
from billing.services import (
    InsufficientCredits,
    Outcome,
    check_quotas,
    lock_wallet,
    open_wallet,
    plan_problems,
    release_credits,
    reserve_credits,
)
from compositions.lifecycle import cancel_composition
from compositions.models import Composition, Result, Role, Upload
from compositions.options import CompositionOptions, NamedReference, NewImage, Problem
from compositions.services import (
    create_composition,
    create_upload,
    delete_upload,
    upload_from_result,
    validate_and_price,
)
from references.models import Reference
from webhooks.services import emit

from .models import FIELD_NAME, PLACEHOLDER, Batch, BatchRow, Template, TemplateRun, TemplateVersion
from .serializers import batch_data

logger = logging.getLogger(__name__)

MAX_FIELDS = 20
MAX_VALUE = 500
# The options a template keeps; the rest of a composition (its photos, its prompt) is slots and
# the prompt. The same names as the API's composition body.
OPTION_NAMES = (
    "model",
    "aspect_ratio",
    "image_size",
    "num_images",
    "preset",
    "style",
    "priority",
    "grounding",
    "thinking_level",
    "consent",
)
INPUT_KINDS = ("upload", "result", "url", "reference")


class BatchRefused(ValidationFailed):
    """Rows of a bulk run that cannot run; `errors` names each (field `rows[N]...`)."""

    def __init__(self, errors: list[Problem]):
        super().__init__(errors)
        self.code = "invalid_rows"
        self.message = ngettext(
            "%(count)d row cannot run; nothing was started or reserved.",
            "%(count)d rows cannot run; nothing was started or reserved.",
            len({e[0].split("]")[0] for e in errors}),
        ) % {"count": len({e[0].split("]")[0] for e in errors})}


# --- Definitions ------------------------------------------------------------------------------


def _text(value: Any, *, limit: int) -> str | None:
    # A label is a short name: a NUL in it (which PostgreSQL cannot store) is dropped.
    return value.replace("\x00", "").strip()[:limit] if isinstance(value, str) else None


def clean_definition(*, workspace: Workspace, data: dict[str, Any]) -> dict[str, Any]:
    """A template's prompt, fields, slots and options, checked; ValidationFailed naming every
    problem otherwise. What it returns is what a version stores."""
    errors: list[Problem] = []
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        errors.append(("prompt", "prompt_invalid", _("Write the template's prompt.")))
        prompt = ""
    elif "\x00" in prompt:  # PostgreSQL cannot store it; no one types it
        errors.append(("prompt", "prompt_invalid", _("The prompt contains a NUL character.")))
        prompt = ""
    elif len(prompt) > 4000:
        errors.append(
            ("prompt", "prompt_too_long", _("The prompt is longer than 4000 characters."))
        )

    fields: list[dict[str, Any]] = []
    raw_fields = data.get("fields") or []
    if not isinstance(raw_fields, list) or len(raw_fields) > MAX_FIELDS:
        errors.append(("fields", "invalid_request", _("Give at most %d text fields.") % MAX_FIELDS))
        raw_fields = []
    for index, item in enumerate(raw_fields, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not FIELD_NAME.match(name):
            errors.append(
                (
                    f"fields[{index}].name",
                    "invalid_request",
                    _(
                        "Field %d: a name is lower-case letters, digits and underscores, "
                        "starting with a letter (e.g. product_name)."
                    )
                    % index,
                )
            )
            continue
        if any(f["name"] == name for f in fields):
            errors.append(
                (f"fields[{index}].name", "invalid_request", _("Two fields are called %s.") % name)
            )
            continue
        label = _text(item.get("label"), limit=80) or name.replace("_", " ").capitalize()
        fields.append({"name": name, "label": label, "required": item.get("required") is not False})
    names = {f["name"] for f in fields}
    for unknown in sorted(set(PLACEHOLDER.findall(prompt)) - names):
        errors.append(
            (
                "prompt",
                "unknown_placeholder",
                _("The prompt uses {%s}, but the template has no field of that name.") % unknown,
            )
        )

    slots: list[dict[str, Any]] = []
    raw_slots = data.get("slots")
    if not isinstance(raw_slots, list) or not raw_slots:
        errors.append(("slots", "invalid_request", _("A template needs its photo slots.")))
        raw_slots = []
    named = NamedInputs.find(
        workspace, [item.get("fixed") for item in raw_slots if isinstance(item, dict)]
    )
    for index, item in enumerate(raw_slots, start=1):
        if not isinstance(item, dict):
            errors.append(
                (f"slots[{index}]", "invalid_request", _("Slot %d is not valid.") % index)
            )
            continue
        role = item.get("role") or ""
        if role not in Role.values and role != "":
            errors.append(
                (f"slots[{index}].role", "unsupported_option", _("Slot %d: unknown role.") % index)
            )
        fixed = item.get("fixed") or None
        if fixed is not None:
            problem = _input_problem(workspace, fixed, where=_("Slot %d") % index, named=named)
            if problem:
                errors.append((f"slots[{index}].fixed", *problem))
            fixed = {k: v for k, v in fixed.items() if k in INPUT_KINDS} if not problem else fixed
        slots.append(
            {
                "role": role,
                "label": _text(item.get("label"), limit=80) or "",
                # A fixed photo is always there; only a photo asked for can be optional.
                "required": True if fixed else item.get("required") is not False,
                "fixed": fixed,
            }
        )

    raw_options = data.get("options") or {}
    if not isinstance(raw_options, dict):
        errors.append(("options", "invalid_request", _("Options must be an object.")))
        raw_options = {}
    options = {k: raw_options[k] for k in OPTION_NAMES if raw_options.get(k) not in (None, "")}
    if not errors:
        try:
            composition_options = CompositionOptions.from_data(
                {**options, "prompt": PLACEHOLDER.sub("x", prompt)},
                roles=[s["role"] for s in slots],
            )
            _model, problems, _credits = validate_and_price(
                options=composition_options,
                count=sum(named.image_count(s["fixed"]) if s["fixed"] else 1 for s in slots),
            )
        except (TypeError, ValueError):  # a number that is not one, a list for a word...
            errors.append(("options", "invalid_request", _("The options are not valid.")))
        else:
            errors += [(f"options.{f}" if f != "images" else "slots", c, m) for f, c, m in problems]
            options["model"] = composition_options.model
    if errors:
        raise ValidationFailed(errors)
    return {"prompt": prompt, "fields": fields, "slots": slots, "options": options}


def definition_of(composition: Composition) -> dict[str, Any]:
    """What a template made from this composition starts with: its prompt and options, and a
    slot per photo (asked each time, in its role)."""
    options = CompositionOptions.of(composition)
    inputs = list(composition.inputs.select_related("upload").order_by("position"))
    return {
        "prompt": composition.prompt,
        "fields": [],
        "slots": [
            {"role": i.role, "label": "", "required": True, "fixed": None, "upload": i.upload}
            for i in inputs
        ],
        "options": {
            "model": options.model,
            "aspect_ratio": options.aspect_ratio,
            "image_size": options.image_size,
            "num_images": options.num_images,
            "preset": options.preset,
            "style": options.style,
            "priority": options.priority,
            "grounding": options.grounding,
            "thinking_level": options.thinking_level,
            "consent": options.consent,
        },
    }


def _clean_name(name: Any) -> str:
    cleaned = _text(name, limit=121) or ""
    if not cleaned:
        raise ValidationFailed([("name", "invalid_request", _("Give the template a name."))])
    if len(cleaned) > 120:
        raise ValidationFailed(
            [("name", "invalid_request", _("A name has at most 120 characters."))]
        )
    return cleaned


def create_template(
    *, workspace: Workspace, user: User | None, name: str, definition: dict[str, Any]
) -> Template:
    """A new template with its first version, shared with the workspace."""
    name = _clean_name(name)
    cleaned = clean_definition(workspace=workspace, data=definition)
    with transaction.atomic():
        template = Template.objects.create(workspace=workspace, name=name, created_by=user)
        TemplateVersion.objects.create(template=template, number=1, created_by=user, **cleaned)
    return template


def revise_template(
    *, template: Template, user: User | None, name: str, definition: dict[str, Any]
) -> TemplateVersion:
    """Editing writes the next version; runs keep pointing at the one they used."""
    name = _clean_name(name)
    cleaned = clean_definition(workspace=template.workspace, data=definition)
    with transaction.atomic():
        # The template's row, locked, so two edits at once number their versions one after
        # the other instead of colliding on the unique number.
        locked = Template.objects.select_for_update().get(pk=template.pk)
        latest = locked.versions.order_by("-number").values_list("number", flat=True).first()
        version = TemplateVersion.objects.create(
            template=locked, number=(latest or 0) + 1, created_by=user, **cleaned
        )
        Template.objects.filter(pk=locked.pk).update(name=name, updated_at=timezone.now())
    template.refresh_from_db()
    return version


# --- Runs -------------------------------------------------------------------------------------


@dataclass
class NamedInputs:
    """The uploads, results and saved references that some inputs name, found in the workspace
    with one query per kind however many inputs there are (a bulk run's rows all at once)."""

    uploads: dict[str, Upload]
    results: set[str]
    references: dict[str, Reference]

    @classmethod
    def find(cls, workspace: Workspace, items: Iterable[Any]) -> "NamedInputs":
        ids: dict[str, set[str]] = {"upload": set(), "result": set(), "reference": set()}
        for item in items:
            if isinstance(item, dict):
                for kind, wanted in ids.items():
                    if isinstance(item.get(kind), str) and item[kind]:
                        wanted.add(item[kind])
        return cls(
            uploads={
                upload.public_id: upload
                for upload in Upload.objects.filter(
                    workspace=workspace, public_id__in=ids["upload"]
                )
            }
            if ids["upload"]
            else {},
            results=set(
                Result.objects.filter(
                    composition__workspace=workspace, public_id__in=ids["result"]
                ).values_list("public_id", flat=True)
            )
            if ids["result"]
            else set(),
            references={
                reference.public_id: reference
                for reference in Reference.objects.visible_to(workspace)
                .filter(public_id__in=ids["reference"])
                .select_related("consent")
                .with_image_count()
            }
            if ids["reference"]
            else {},
        )

    def image_count(self, item: dict[str, str] | None) -> int:
        """How many images this input puts into a composition: a saved reference all of its
        current ones (as the submit expands it), anything else one."""
        if not item:
            return 0
        reference = self.references.get(item.get("reference") or "")
        return reference.image_count if reference is not None else 1  # type: ignore[attr-defined]


def _input_problem(
    workspace: Workspace, item: Any, *, where: str, named: NamedInputs | None = None
) -> tuple[str, str] | None:
    """(code, message) if this input cannot be used, as far as can be told without fetching.
    `named`: the inputs' uploads, results and references already looked up (else looked up)."""
    if not isinstance(item, dict):
        return "invalid_request", _("%s: give an upload id, a result id or a URL.") % where
    given = [k for k in INPUT_KINDS if item.get(k)]
    if len(given) != 1 or not isinstance(item[given[0]], str):
        return "invalid_request", _("%s: give one of an upload id, a result id or a URL.") % where
    kind, value = given[0], item[given[0]]
    if named is None:  # (a URL needs no query: find() asks only for the kinds it is given)
        named = NamedInputs.find(workspace, [item])
    if kind == "upload":
        upload = named.uploads.get(value)
        if upload is None:
            return "not_found", _("%s: there is no such upload here.") % where
        if upload.status == Upload.Status.REJECTED:
            return "image_rejected", _("%s: that photo was rejected by a moderator.") % where
    elif kind == "result":
        if value not in named.results:
            return "not_found", _("%s: there is no such result here.") % where
    elif kind == "url":
        try:
            URLValidator(schemes=["http", "https"])(value)
        except DjangoValidationError:
            return "invalid_url", _("%s: that is not an http(s) URL.") % where
        if len(value) > 2048:
            return "invalid_url", _("%s: the URL is longer than 2048 characters.") % where
    else:  # a saved reference: its images are found (and checked again) at submit
        reference = named.references.get(value)
        if reference is None:
            return "reference_not_found", _("%s: there is no such saved reference here.") % where
        unusable = reference.unusable()
        if unusable:
            return unusable[0], f"{where}: {unusable[1]}"
    return None


def input_from_cell(cell: str) -> dict[str, str] | None:
    """A CSV cell naming a photo: an upload id, a result id, a reference id or a URL."""
    cell = cell.strip()
    if not cell:
        return None
    for prefix, kind in (("up_", "upload"), ("res_", "result"), ("ref_", "reference")):
        if cell.startswith(prefix):
            return {kind: cell}
    return {"url": cell}


def render_prompt(version: TemplateVersion, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), version.prompt)


def check_run(
    *,
    version: TemplateVersion,
    workspace: Workspace,
    values: Any,
    inputs: Any,
    where: str = "",
    label: str = "",
    named: NamedInputs | None = None,
) -> tuple[list[Problem], dict[str, str], list[dict | None], CompositionOptions | None, int]:
    """Everything a run can be checked for before it starts: (problems, the field values, the
    inputs of every slot in order (None for an optional one left out), options, price).
    `where` prefixes the problems' fields ("rows[3]."), `label` their messages ("Row 3").
    `named`: the uploads, results and references of these inputs and of the version's fixed
    slots, already looked up (a bulk run looks up all its rows' at once)."""
    if named is None:
        named = NamedInputs.find(
            workspace,
            [*(inputs if isinstance(inputs, list) else []), *_fixed_inputs(version)],
        )
    problems: list[Problem] = []
    label = label or _("The run")
    if not isinstance(values, dict):
        problems.append(
            (f"{where}fields", "invalid_request", _("%s: fields must be an object.") % label)
        )
        values = {}
    known = {f["name"]: f for f in version.fields}
    clean_values: dict[str, str] = {}
    for name, value in values.items():
        if name not in known:
            problems.append(
                (
                    f"{where}fields.{name}",
                    "unknown_field",
                    _("%(where)s: the template has no field “%(name)s”.")
                    % {"where": label, "name": name},
                )
            )
        # (No NUL either: PostgreSQL cannot store it, and no one types it.)
        elif value is not None and (not isinstance(value, str) or "\x00" in value):
            problems.append(
                (
                    f"{where}fields.{name}",
                    "invalid_request",
                    _("%(where)s: “%(name)s” must be text.") % {"where": label, "name": name},
                )
            )
        elif value is not None and len(value) > MAX_VALUE:
            problems.append(
                (
                    f"{where}fields.{name}",
                    "invalid_request",
                    _("%(where)s: “%(name)s” is longer than %(max)d characters.")
                    % {"where": label, "name": name, "max": MAX_VALUE},
                )
            )
        elif value:
            clean_values[name] = value.strip()
    for field in version.fields:
        if field["required"] and not clean_values.get(field["name"]):
            clean_values.pop(field["name"], None)
            problems.append(
                (
                    f"{where}fields.{field['name']}",
                    "field_required",
                    _("%(where)s: fill in “%(label)s”.")
                    % {"where": label, "label": field["label"]},
                )
            )
        clean_values.setdefault(field["name"], "")

    asked = version.asked_slots
    if not isinstance(inputs, list):
        problems.append(
            (f"{where}inputs", "invalid_request", _("%s: inputs must be a list.") % label)
        )
        inputs = []
    if len(inputs) > len(asked):
        problems.append(
            (
                f"{where}inputs",
                "too_many_images",
                ngettext(
                    "%(where)s: the template asks for %(count)d photo.",
                    "%(where)s: the template asks for %(count)d photos.",
                    len(asked),
                )
                % {"where": label, "count": len(asked)},
            )
        )
    given = dict(zip([position for position, _slot in asked], inputs, strict=False))
    slot_inputs: list[dict | None] = []
    for position, slot in enumerate(version.slots, start=1):
        if slot.get("fixed"):
            slot_inputs.append(slot["fixed"])
            continue
        item = given.get(position)
        if not item:
            if slot["required"]:
                problems.append(
                    (
                        f"{where}inputs[{position}]",
                        "image_required",
                        _("%(where)s: image %(n)d (%(label)s) is required.")
                        % {
                            "where": label,
                            "n": position,
                            "label": slot.get("label") or slot.get("role") or _("a photo"),
                        },
                    )
                )
            slot_inputs.append(None)
            continue
        problem = _input_problem(
            workspace,
            item,
            where=_("%(where)s, image %(n)d") % {"where": label, "n": position},
            named=named,
        )
        if problem:
            problems.append((f"{where}inputs[{position}]", *problem))
        slot_inputs.append(item)
    if problems:
        return problems, clean_values, slot_inputs, None, 0

    roles = [s["role"] for s, i in zip(version.slots, slot_inputs, strict=True) if i]
    options = CompositionOptions.from_data(
        {**version.options, "prompt": render_prompt(version, clean_values)}, roles=roles
    )
    # A saved reference becomes all of its images at submit, so it counts as that many here.
    count = sum(named.image_count(item) for item in slot_inputs)
    _model, option_problems, credits = validate_and_price(options=options, count=count)
    if count > len(roles):
        hint = _("A saved reference counts as each of its images.")
        option_problems = [
            (f, c, f"{m} {hint}") if c == "too_many_images" else (f, c, m)
            for f, c, m in option_problems
        ]
    problems += [(f"{where}{f}", c, f"{label}: {m}" if where else m) for f, c, m in option_problems]
    return problems, clean_values, slot_inputs, options, credits


def _fixed_inputs(version: TemplateVersion) -> list[dict]:
    return [slot["fixed"] for slot in version.slots if slot.get("fixed")]


def _resolve(
    workspace: Workspace, user: User | None, slot_inputs: list[dict | None]
) -> tuple[list[Upload | NewImage | NamedReference], list[Upload]]:
    """The photos in order, fetched or copied now (a saved reference is named, and becomes its
    current images at submit); and the uploads made here (the caller deletes them if the
    composition is not made)."""
    images: list[Upload | NewImage | NamedReference] = []
    made: list[Upload] = []
    try:
        for position, item in enumerate(slot_inputs, start=1):
            if item is None:
                continue
            if item.get("upload"):
                images.append(Upload.objects.get(public_id=item["upload"], workspace=workspace))
            elif item.get("result"):
                result = Result.objects.select_related("composition__workspace").get(
                    public_id=item["result"], composition__workspace=workspace
                )
                upload = upload_from_result(result=result, user=user)
                upload.save()
                made.append(upload)
                images.append(upload)
            elif item.get("url"):
                data = fetch_image(item["url"])
                # Stored (sanitised) now, outside any transaction, so the one that makes the
                # composition does no image work.
                upload = create_upload(
                    workspace=workspace,
                    user=user,
                    image=NewImage(
                        name=f"image {position}", fileobj=io.BytesIO(data), size=len(data)
                    ),
                )
                made.append(upload)
                images.append(upload)
            elif item.get("reference"):
                images.append(NamedReference(public_id=item["reference"]))
    except Upload.DoesNotExist:
        _discard(made)
        raise ValidationFailed(
            [("inputs", "not_found", _("A photo of this run no longer exists."))]
        ) from None
    except Result.DoesNotExist:
        _discard(made)
        raise ValidationFailed(
            [("inputs", "not_found", _("A result of this run no longer exists."))]
        ) from None
    except BaseException:
        _discard(made)
        raise
    return images, made


def _discard(uploads: list[Upload]) -> None:
    for upload in uploads:
        if upload.pk and not upload.uses.exists():
            delete_upload(upload=upload)


def run_template(
    *,
    version: TemplateVersion,
    workspace: Workspace,
    user: User | None,
    values: Any,
    inputs: Any,
) -> Composition:
    """One composition from a template version: its fields filled in, its asked slots given
    (upload ids, result ids or URLs, in the order of the slots that ask). Like a submit: all of
    it or nothing, and the run records the version it used."""
    problems, clean_values, slot_inputs, options, _credits = check_run(
        version=version, workspace=workspace, values=values, inputs=inputs
    )
    if problems or options is None:
        raise ValidationFailed(problems)
    images, made = _resolve(workspace, user, slot_inputs)
    try:
        with transaction.atomic():
            composition = create_composition(
                workspace=workspace, user=user, options=options, images=images
            )
            TemplateRun.objects.create(
                version=version, composition=composition, values=clean_values
            )
    except BaseException:
        _discard(made)
        raise
    return composition


# --- Bulk runs --------------------------------------------------------------------------------


def rows_from_csv(*, version: TemplateVersion, text: str) -> list[dict[str, Any]]:
    """The rows of a CSV: a column per field (its name) and per asked slot (`image_N`, N its
    position); each photo cell an upload id, a result id, a reference id or a URL."""
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:  # e.g. a header cell over the csv module's field limit
        raise ValidationFailed(
            [("file", "invalid_csv", _("The CSV file could not be read: %s.") % exc)]
        ) from None
    fields = {f["name"] for f in version.fields}
    images = {f"image_{position}": position for position, _slot in version.asked_slots}
    unknown = [h for h in header if h and h not in fields and h not in images]
    if not header:
        raise ValidationFailed([("file", "invalid_csv", _("The CSV file has no header row."))])
    if unknown:
        raise ValidationFailed(
            [
                (
                    "file",
                    "invalid_csv",
                    _("Unknown columns: %(unknown)s. This template's columns are: %(known)s.")
                    % {"unknown": ", ".join(unknown), "known": ", ".join(csv_header(version))},
                )
            ]
        )
    rows = []
    try:
        for record in reader:
            record = {(k or "").strip(): (v or "") for k, v in record.items() if k is not None}
            if not any(v.strip() for v in record.values()):
                continue  # a blank line
            rows.append(
                {
                    "fields": {name: record[name] for name in fields if name in record},
                    "inputs": [
                        input_from_cell(record.get(f"image_{position}", ""))
                        for position, _slot in version.asked_slots
                    ],
                }
            )
    except csv.Error as exc:
        raise ValidationFailed(
            [("file", "invalid_csv", _("The CSV file cannot be read: %s") % exc)]
        ) from None
    return rows


def csv_header(version: TemplateVersion) -> list[str]:
    """The columns a CSV for this version has, in order."""
    return [f["name"] for f in version.fields] + [
        f"image_{position}" for position, _slot in version.asked_slots
    ]


def _trim_inputs(inputs: Any) -> Any:
    """A CSV row's inputs with the trailing left-out optional photos dropped."""
    if not isinstance(inputs, list):
        return inputs
    trimmed = list(inputs)
    while trimmed and trimmed[-1] is None:
        trimmed.pop()
    return trimmed


@dataclass
class CheckedRow:
    number: int
    values: dict[str, str]
    inputs: list[dict | None]
    credits: int
    images: int


def check_batch(
    *, version: TemplateVersion, workspace: Workspace, rows: Any
) -> tuple[list[CheckedRow], list[Problem]]:
    """Every row checked as a run would be (nothing fetched), with its price."""
    if not isinstance(rows, list) or not rows:
        raise ValidationFailed([("rows", "invalid_request", _("Give at least one row."))])
    limit = settings.BANANASITE_BATCH_MAX_ROWS
    if len(rows) > limit:
        raise ValidationFailed(
            [("rows", "too_many_rows", _("A bulk run has at most %d rows.") % limit)]
        )
    plan = open_wallet(workspace=workspace).plan
    # Every row's uploads, results and references in one query per kind, not one per row.
    named = NamedInputs.find(
        workspace,
        [
            *_fixed_inputs(version),
            *(
                item
                for row in rows
                if isinstance(row, dict) and isinstance(row.get("inputs"), list)
                for item in row["inputs"]
            ),
        ],
    )
    checked: list[CheckedRow] = []
    problems: list[Problem] = []
    for number, row in enumerate(rows, start=1):
        where = f"rows[{number}]."
        if not isinstance(row, dict):
            problems.append(
                (f"rows[{number}]", "invalid_request", _("Row %d is not an object.") % number)
            )
            continue
        row_problems, values, slot_inputs, options, credits = check_run(
            version=version,
            workspace=workspace,
            values=row.get("fields") or {},
            inputs=_trim_inputs(row.get("inputs") or []),
            where=where,
            label=_("Row %d") % number,
            named=named,
        )
        if options is not None and not row_problems:
            model, _p, _c = validate_and_price(options=options, count=len(options.roles))
            if model is not None:
                row_problems += [
                    (f"{where}{f}", c, _("Row %(n)d: %(message)s") % {"n": number, "message": m})
                    for f, c, m in plan_problems(
                        plan=plan,
                        model_id=model.id,
                        model_name=model.name,
                        image_size=options.image_size,
                    )
                ]
        if row_problems:
            problems += row_problems
            continue
        assert options is not None
        checked.append(
            CheckedRow(
                number=number,
                values=values,
                inputs=slot_inputs,
                credits=credits,
                images=options.num_images,
            )
        )
    return checked, problems


def create_batch(
    *, version: TemplateVersion, workspace: Workspace, user: User | None, rows: Any
) -> Batch:
    """Check every row, then reserve the whole batch's credits in one go and queue its rows;
    or refuse, naming the rows that cannot run, with nothing reserved."""
    checked, problems = check_batch(version=version, workspace=workspace, rows=rows)
    if problems:
        raise BatchRefused(problems)
    total = sum(row.credits for row in checked)
    images = sum(row.images for row in checked)
    with transaction.atomic():
        wallet = lock_wallet(workspace_id=workspace.pk)
        check_quotas(wallet=wallet, user=user, images=images)
        if wallet.balance < total:
            raise InsufficientCredits(
                _("This bulk run needs %(total)d credits; the workspace has %(balance)d.")
                % {"total": total, "balance": wallet.balance},
                field="rows",
            )
        batch = Batch.objects.create(
            workspace=workspace, version=version, created_by=user, credits_reserved=total
        )
        BatchRow.objects.bulk_create(
            BatchRow(
                batch=batch,
                number=row.number,
                values=row.values,
                inputs=row.inputs,
                credits=row.credits,
                images=row.images,
            )
            for row in checked
        )
        # One reserve for every row (billing.reserve_credits: a conditional UPDATE and a
        # ledger row), named by the batch's id.
        reserve_credits(
            wallet=wallet, composition_ref=batch.public_id, amount=total, images=images, user=user
        )
        _enqueue_next(batch)
    return batch


def _asked_inputs(version: TemplateVersion, slot_inputs: list[dict | None]) -> list[dict | None]:
    """A stored row's inputs (every slot) as a run gives them (the slots that ask)."""
    return _trim_inputs([slot_inputs[position - 1] for position, _slot in version.asked_slots])


def _enqueue_next(batch: Batch) -> None:
    enqueue_on_commit(
        "blueprints.tasks.start_next_row_task",
        batch.public_id,
        group="batches",
        task_name=f"batch {batch.public_id}",
    )


def start_next_row(*, batch: Batch) -> BatchRow | None:
    """Turn the batch's next waiting row into a queued composition, and queue the step after.

    One row per task, each step at the back of the broker's queue: a big batch interleaves with
    every other workspace's work, and its compositions wait their turn in the workspace's queue
    like any other (the claim counts them against the plan's concurrency)."""
    if batch.status != Batch.Status.RUNNING:
        return None
    row = batch.rows.filter(status=BatchRow.Status.PENDING).order_by("number").first()
    if row is None:
        finish_batch_if_done(batch=batch)
        return None
    if row.claim():
        _start_row(batch, row)
    _enqueue_next(batch)
    return row


def _start_row(batch: Batch, row: BatchRow) -> None:
    workspace = batch.workspace
    user = batch.created_by
    made: list[Upload] = []
    try:
        _problems, values, slot_inputs, options, _credits = check_run(
            version=batch.version,
            workspace=workspace,
            values=row.values,
            inputs=_asked_inputs(batch.version, row.inputs),
        )
        if _problems or options is None:
            raise ValidationFailed(_problems)
        images, made = _resolve(workspace, user, slot_inputs)
        with transaction.atomic():
            composition = create_composition(
                workspace=workspace, user=user, options=options, images=images, prepaid=row.credits
            )
            TemplateRun.objects.create(
                version=batch.version, composition=composition, values=values
            )
            started = BatchRow.objects.filter(pk=row.pk, status=BatchRow.Status.STARTING).update(
                status=BatchRow.Status.STARTED, updated_at=timezone.now(), composition=composition
            )
            if not started:  # canceled meanwhile: the cancel gave the share back
                raise _RowGone
    except _RowGone:
        _discard(made)
    except AppError as exc:
        _discard(made)
        fail_row(row=row, code=exc.code, message=exc.message)
    except Exception:
        _discard(made)
        logger.exception("Batch row %s could not start", row.public_id)
        fail_row(row=row, code="internal_error", message=_("Something went wrong on our side."))


class _RowGone(Exception):
    pass


def fail_row(*, row: BatchRow, code: str, message: str) -> bool:
    """A row that could not become a composition: failed, and its share given back."""
    batch = row.batch
    with transaction.atomic():
        lock_wallet(workspace_id=batch.workspace_id)
        failed = BatchRow.objects.filter(pk=row.pk, status=BatchRow.Status.STARTING).update(
            status=BatchRow.Status.FAILED,
            updated_at=timezone.now(),
            error_code=code[:40],
            error_message=message[:500],
        )
        if failed:
            release_credits(
                workspace_id=batch.workspace_id,
                composition_ref=row.public_id,
                held=row.credits,
                outcome=Outcome.FAILED,
                user_id=batch.created_by_id,
            )
    return bool(failed)


def cancel_batch(*, batch: Batch) -> Batch:
    """Stop the batch: rows not started give their share back (exactly theirs), compositions not
    finished are canceled (each gives its own hold back); what has finished stays."""
    with transaction.atomic():
        lock_wallet(workspace_id=batch.workspace_id)
        if not Batch.objects.filter(pk=batch.pk, status=Batch.Status.RUNNING).update(
            status=Batch.Status.CANCELED, finished_at=timezone.now()
        ):
            raise InvalidState(_("This bulk run has already ended."))
        waiting = batch.rows.filter(
            status__in=[BatchRow.Status.PENDING, BatchRow.Status.STARTING]
        ).order_by("number")
        for row in waiting:
            if BatchRow.objects.filter(pk=row.pk, status=row.status).update(
                status=BatchRow.Status.CANCELED, updated_at=timezone.now()
            ):
                release_credits(
                    workspace_id=batch.workspace_id,
                    composition_ref=row.public_id,
                    held=row.credits,
                    outcome=Outcome.CANCELED,
                    user_id=batch.created_by_id,
                )
        running = Composition.objects.filter(
            batch_row__batch=batch, status__in=Composition.UNFINISHED
        )
        for composition in running:
            try:
                cancel_composition(composition=composition)
            except InvalidState:
                continue  # it ended meanwhile; its own end settled it
        batch.refresh_from_db()
        _emit_finished(batch)
    return batch


def retry_row(*, row: BatchRow, user: User | None) -> Composition:
    """Run a failed row again: a new composition, paid for like any submit (its first share was
    given back when it failed)."""
    batch = row.batch
    if batch.status == Batch.Status.CANCELED:
        raise InvalidState(_("This bulk run was canceled."))
    if row.outcome != "failed":
        raise InvalidState(_("Only a failed row can be run again."))
    version = batch.version
    problems, values, slot_inputs, options, _credits = check_run(
        version=version,
        workspace=batch.workspace,
        values=row.values,
        inputs=_asked_inputs(version, row.inputs),
    )
    if problems or options is None:
        raise ValidationFailed(problems)
    images, made = _resolve(batch.workspace, user, slot_inputs)
    try:
        with transaction.atomic():
            composition = create_composition(
                workspace=batch.workspace, user=user, options=options, images=images
            )
            TemplateRun.objects.create(version=version, composition=composition, values=values)
            moved = (
                BatchRow.objects.filter(pk=row.pk)
                .filter(
                    Q(status=BatchRow.Status.FAILED)
                    | Q(
                        status=BatchRow.Status.STARTED,
                        composition_id=row.composition_id,
                        composition__status=Composition.Status.FAILED,
                    )
                )
                .update(
                    status=BatchRow.Status.STARTED,
                    composition=composition,
                    error_code="",
                    error_message="",
                )
            )
            if not moved:
                raise InvalidState(_("This row changed meanwhile; reload the page."))
            Batch.objects.filter(pk=batch.pk, status=Batch.Status.FINISHED).update(
                status=Batch.Status.RUNNING, finished_at=None
            )
    except BaseException:
        _discard(made)
        raise
    return composition


def finish_batch_if_done(*, batch: Batch) -> bool:
    """A running batch whose rows have all ended is finished (once: a conditional UPDATE), and
    the workspace's `batch.finished` webhooks are told."""
    if batch.status != Batch.Status.RUNNING:
        return False
    open_rows = batch.rows.filter(
        Q(status__in=[BatchRow.Status.PENDING, BatchRow.Status.STARTING])
        | Q(status=BatchRow.Status.STARTED, composition__status__in=Composition.UNFINISHED)
    )
    if open_rows.exists():
        return False
    with transaction.atomic():
        if not Batch.objects.filter(pk=batch.pk, status=Batch.Status.RUNNING).update(
            status=Batch.Status.FINISHED, finished_at=timezone.now()
        ):
            return False
        batch.refresh_from_db()
        _emit_finished(batch)
    return True


def _emit_finished(batch: Batch) -> None:
    emit(workspace_id=batch.workspace_id, event="batch.finished", data=lambda: batch_data(batch))


def sweep_batches(*, stale_after_seconds: int = 600) -> int:
    """Every minute: finish running batches whose last compositions ended since, and put back a
    row whose starter died (it has no composition; its share is still held)."""
    cutoff = timezone.now() - timedelta(seconds=stale_after_seconds)
    for row in BatchRow.objects.filter(status=BatchRow.Status.STARTING, updated_at__lt=cutoff):
        if BatchRow.objects.filter(pk=row.pk, status=BatchRow.Status.STARTING).update(
            status=BatchRow.Status.PENDING, updated_at=timezone.now()
        ):
            _enqueue_next(row.batch)
    finished = 0
    for batch in Batch.objects.filter(status=Batch.Status.RUNNING):
        finished += finish_batch_if_done(batch=batch)
    return finished


# --- Counts and the archive -------------------------------------------------------------------


def row_outcomes(batch: Batch) -> list[BatchRow]:
    return list(batch.rows.select_related("composition").order_by("number"))


def archive_entries(batch: Batch) -> Iterator[tuple[BatchRow, Result | None]]:
    """Every row with each of its results (or None when it has none), in row order."""
    rows = batch.rows.select_related("composition").prefetch_related("composition__results")
    for row in rows.order_by("number"):
        results = list(row.composition.results.all()) if row.composition else []
        if not results:
            yield row, None
        for result in results:
            yield row, result
