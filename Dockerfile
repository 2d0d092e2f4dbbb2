# Production-like image: web (gunicorn), worker and beat share it.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MWX_VAR_DIR=/var/lib/mailworx
RUN apt-get update && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /app mailworx
WORKDIR /app
COPY pyproject.toml ./
COPY . .
RUN pip install --no-cache-dir . && python scripts/compile_messages.py \
    && MWX_MODE=demo python manage.py collectstatic --noinput \
    && mkdir -p /var/lib/mailworx && chown mailworx /var/lib/mailworx
USER mailworx
EXPOSE 8000
CMD ["gunicorn", "mailworx_crm.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60"]
