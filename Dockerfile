# edgelake in a container: `docker build -t edgelake .`, then `docker run --rm edgelake --help`.
# The install step is .ci/install-wheel, the script tests/test_wheel.py checks: it builds the wheel from
# this checkout and installs it (not editable) with the dependency versions of requirements.lock.
FROM python:3.11.14-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the wheel is built from (.dockerignore sends nothing else); removed once installed.
COPY pyproject.toml README.md requirements.lock /tmp/edgelake/
COPY pipeline /tmp/edgelake/pipeline
COPY sql /tmp/edgelake/sql
COPY schemas /tmp/edgelake/schemas
COPY .ci/install-wheel /tmp/edgelake/.ci/install-wheel
# Installed as root, so the package (and its byte-code, compiled now) is read-only to the user below. With the
# dask extra, the same image runs Dask workers for `--cluster` (`docker run --entrypoint dask edgelake worker ...`).
RUN bash /tmp/edgelake/.ci/install-wheel --extras dask /usr/local/bin/python \
    && rm -rf /tmp/edgelake

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin edgelake
USER edgelake
WORKDIR /home/edgelake
ENTRYPOINT ["edgelake"]
CMD ["--help"]
