# Production-like image: web (gunicorn), worker and beat share it. It holds the product
# only; `--build-arg EXTRAS=emulator` adds the local Dataverse emulator's dependencies
# (`python -m dynamics_emulator`, a tool for trying the stack without a CRM).
FROM python:3.11-slim-bookworm
ARG EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MWX_VAR_DIR=/var/lib/mailworx \
    STATIC_ROOT=/app/staticfiles
RUN useradd --system --home /app mailworx
WORKDIR /app
COPY pyproject.toml ./
COPY . .
# polib compiles the UI catalogues at build time only (the same range as in [dev]).
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}" "polib>=1.2,<1.3" \
    && python scripts/compile_messages.py && pip uninstall --yes --quiet polib \
    # The manifest production serves from: built in production mode (throw-away secrets,
    # used for nothing but this command); the web server refuses to start without it.
    && MWX_MODE=production SECRET_KEY=build-only-not-a-secret CONSENT_HASH_KEY=build-only-not-a-secret \
       FIELD_ENCRYPTION_KEYS=$(python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())") \
       python manage.py collectstatic --noinput --ignore 'swagger-ui-dist' \
    && test -f /app/staticfiles/staticfiles.json \
    && mkdir -p /var/lib/mailworx && chown mailworx /var/lib/mailworx
USER mailworx
EXPOSE 8000
CMD ["gunicorn", "mailworx_crm.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60"]
