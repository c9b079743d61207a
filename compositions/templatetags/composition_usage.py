"""The usage page's per-composition lines come from the ledger (billing knows compositions
only by public id); this tag, above billing, adds what the compositions say: the preset, a
thumbnail, a link. One query for the compositions, one for their first results."""

from django import template

from ..usage_lines import describe

register = template.Library()


@register.simple_tag(takes_context=True)
def describe_compositions(context, lines) -> str:
    request = context["request"]
    describe(lines, workspace=request.workspace)
    return ""
