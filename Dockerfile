# destination-dust on Airbyte's Python connector base image (Python 3.11, Debian, non-root user `airbyte`).
# Keep the tag and digest equal to metadata.yaml's connectorBuildOptions.baseImage (tests/packaging checks it).
FROM docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73

WORKDIR /airbyte/integration_code

# Only what `pip install .` needs, plus main.py for the platform's entrypoint (see .dockerignore).
COPY pyproject.toml README.md main.py ./
COPY src ./src

# Install as root into the image's Python, then run as the base image's unprivileged user.
USER root
RUN pip install --no-cache-dir . && rm -rf build src/*.egg-info
USER airbyte

ENV AIRBYTE_ENTRYPOINT="python /airbyte/integration_code/main.py"
ENTRYPOINT ["python", "/airbyte/integration_code/main.py"]

LABEL io.airbyte.name=airbyte/destination-dust
LABEL io.airbyte.version=0.1.0
