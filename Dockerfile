# Production image: web (gunicorn), worker and scheduler all run from it (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install --no-cache-dir "uv==0.13.9"

WORKDIR /app
COPY pyproject.toml uv.lock ./
# Production needs neither the embedded servers nor the test tools.
RUN uv sync --frozen --no-default-groups --no-install-project

COPY . .
RUN DJANGO_SETTINGS_MODULE=config.settings.production \
    DJANGO_SECRET_KEY=collectstatic-only \
    DJANGO_ALLOWED_HOSTS=localhost \
    KEEPWARM_ENCRYPTION_KEYS=collectstatic-only \
    BITRIX_CLIENT_ID=collectstatic-only \
    BITRIX_CLIENT_SECRET=collectstatic-only \
    /app/.venv/bin/python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --system --uid 10001 --home /app keepwarm \
    && chown -R keepwarm /app/.data

USER keepwarm
ENV PATH=/app/.venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings.production
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
