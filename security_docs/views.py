from django.conf import settings
from django.utils import translation
from django.views.generic import TemplateView

from security_docs.selectors import security_sheet


class SecuritySheetView(TemplateView):
    """The published data-use and security sheet; public, no login, Russian or English."""

    template_name = "security_docs/sheet.html"

    def get(self, request, *args, **kwargs):
        language = request.GET.get("lang")
        if language not in dict(settings.LANGUAGES):
            language = translation.get_language_from_request(request)
        with translation.override(language):
            response = super().get(request, *args, **kwargs)
            response.render()
        response["Content-Language"] = language
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["sheet"] = security_sheet()
        context["languages"] = settings.LANGUAGES
        return context
