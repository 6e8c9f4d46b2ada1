# The server as a container image, built from the package's wheel (README: "Container").
#   docker build -t alien-server .
#   docker run -p 8080:8080 -v alien-state:/var/lib/alien alien-server
# tests/test_install.py runs this file's install step, command and health check outside Docker.

FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md openapi.json ./
COPY app app
COPY handlers handlers
COPY models models
COPY simulator simulator
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/alien --create-home alien
COPY --from=wheel /dist /dist
RUN pip install --no-cache-dir --no-compile /dist/alien_server-*.whl && rm -rf /dist
ENV HOST=0.0.0.0 PORT=8080 ALIEN_STATE_DIR=/var/lib/alien PYTHONUNBUFFERED=1
VOLUME /var/lib/alien
WORKDIR /var/lib/alien
USER alien
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/ready' % os.environ['PORT'], timeout=2)"]
CMD ["alien-server", "serve"]
