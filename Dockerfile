# Production-like image: web (gunicorn), worker and beat share it. It holds the product
# only; `--build-arg EXTRAS=emulator` adds the local Dataverse emulator's dependencies
# (`python -m dynamics_emulator`, a tool for trying the stack without a CRM).
FROM python:3.11-slim-bookworm
ARG EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MWX_VAR_DIR=/var/lib/mailworx
RUN apt-get update && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /app mailworx
WORKDIR /app
COPY pyproject.toml ./
COPY . .
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}" && python scripts/compile_messages.py \
    && MWX_MODE=demo python manage.py collectstatic --noinput \
    && mkdir -p /var/lib/mailworx && chown mailworx /var/lib/mailworx
USER mailworx
EXPOSE 8000
CMD ["gunicorn", "mailworx_crm.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60"]
