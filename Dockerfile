# syntax=docker/dockerfile:1
# QR Platform images: `app` (gunicorn, and the worker, relay and consumers with another
# command) and `nginx` (nginx/qrplatform.conf with the static files baked in).
# Built by deploy/docker-compose.yml; see docs/deploy.md.

# -- htmx, Pico CSS, Chart.js, SortableJS, Lucide icons, Inter: pinned in package.json, copied by `make assets`
FROM node:20-bookworm AS assets
WORKDIR /src
COPY Makefile package.json package-lock.json ./
RUN make assets

# -- the application ----------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS app
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --system --create-home --home-dir /home/qrp --shell /usr/sbin/nologin qrp
WORKDIR /srv/qrplatform
COPY setup.py setup.cfg pyproject.toml README.md ./
COPY qrplatform ./qrplatform
COPY plugins ./plugins
# Editable: create_app finds migrations/ and templates/ next to the package, as in a checkout.
RUN pip install -e .
COPY migrations ./migrations
COPY templates ./templates
COPY wsgi.py gunicorn.conf.py ./
COPY --from=assets /src/qrplatform/static/vendor ./qrplatform/static/vendor
# Bytecode made once, at build: the app runs as qrp, who cannot write it next to the sources
# (and PYTHONDONTWRITEBYTECODE says not to), so without this every process (each gunicorn
# master, worker, job worker, consumer, command) would compile the app's modules again on start.
# The app's own modules and migrations, then everything installed (pip compiles what it
# installs, but not every file a package ships); the same timestamps as the files, so valid.
RUN python -m compileall -q -j 0 qrplatform plugins migrations wsgi.py \
    && python -m compileall -q -j 0 "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
RUN mkdir -p instance && chown qrp:qrp instance
USER qrp
ENV GUNICORN_BIND=0.0.0.0:8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]

# -- nginx in front: our site config, pointed at the app service ---------------------------------
FROM nginx:1.27-bookworm AS nginx
RUN rm /etc/nginx/conf.d/default.conf
COPY nginx/qrplatform.conf /etc/nginx/conf.d/qrplatform.conf
# The same file as on a plain host; only the upstream differs (the `app` service, every replica).
RUN sed -i 's/server 127.0.0.1:8000;/server app:8000;/' /etc/nginx/conf.d/qrplatform.conf \
    && grep -q 'server app:8000;' /etc/nginx/conf.d/qrplatform.conf
COPY --from=app /srv/qrplatform/qrplatform/static /srv/qrplatform/qrplatform/static
