"""The published data-use sheet: HTML, JSON and PDF of one SecuritySheet; public, no login.

Views only pick the language and render; everything the sheet says comes from
security_docs.selectors.security_sheet().
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.views import View
from django.views.generic import TemplateView

from security_docs.content import HEADINGS
from security_docs.pdf import sheet_pdf
from security_docs.selectors import security_sheet, sheet_as_dict


def sheet_language(request: HttpRequest) -> str:
    """`?lang=` when it names a published language, else the browser's; never echoes input."""
    language = request.GET.get("lang")
    if language in dict(settings.LANGUAGES):
        return language
    language = translation.get_language_from_request(request)
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


class SecuritySheetView(TemplateView):
    """The sheet as a page: print-friendly, no JavaScript, a link per language."""

    template_name = "security_docs/sheet.html"

    def get(self, request, *args, **kwargs):
        language = sheet_language(request)
        with translation.override(language):
            response = super().get(request, *args, language=language, **kwargs)
            response.render()
        response["Content-Language"] = language
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["sheet"] = security_sheet(language=kwargs["language"])
        context["headings"] = HEADINGS
        context["languages"] = settings.LANGUAGES
        return context


class SecuritySheetJsonView(View):
    """The same sheet for machines: stable keys (security_docs.schema.SHEET_SCHEMA)."""

    def get(self, request: HttpRequest) -> JsonResponse:
        language = sheet_language(request)
        data = sheet_as_dict(security_sheet(language=language))
        response = JsonResponse(data, json_dumps_params={"ensure_ascii": False, "indent": 1})
        response["Content-Language"] = language
        return response


class SecuritySheetPdfView(View):
    """The same sheet as a PDF download."""

    def get(self, request: HttpRequest) -> HttpResponse:
        language = sheet_language(request)
        body = sheet_pdf(security_sheet(language=language))
        response = HttpResponse(body, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="keepwarm-data-use-{language}.pdf"'
        response["Content-Language"] = language
        return response
