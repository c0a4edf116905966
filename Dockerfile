# Rungs: one image for the web process and the workers (CPU torch; see README for GPUs).
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --extra-index-url https://download.pytorch.org/whl/cpu -r /tmp/requirements.txt

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=dashboard.settings RUNGS_VAR_DIR=/var/lib/rungs
RUN useradd --create-home --uid 1000 rungs && mkdir -p /var/lib/rungs && chown rungs /var/lib/rungs
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=rungs . /app
USER rungs
EXPOSE 8000
# The web process; workers run `celery -A dashboard worker --pool solo -Q celery,cpu`.
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py collectstatic --noinput -v0 && daphne -b 0.0.0.0 -p 8000 dashboard.asgi:application"]
