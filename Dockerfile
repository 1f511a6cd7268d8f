# Multi-stage: build a venv with the exporter in a full Python image, run it from a slim one.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/exporter
COPY pyproject.toml README.md /src/
COPY exporter /src/exporter
RUN /opt/exporter/bin/pip install /src

FROM python:3.11-slim
# tzdata: DWS reports zone-less times; `time_zone: Asia/Shanghai` and the like need the zone database.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 exporter \
    && useradd --system --uid 10001 --gid exporter --no-create-home --shell /usr/sbin/nologin exporter
COPY --from=build /opt/exporter /opt/exporter
COPY config.example.yaml /etc/huaweicloud-task-exporter/config.example.yaml
ENV PATH=/opt/exporter/bin:$PATH PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 9898
ENTRYPOINT ["huaweicloud-task-exporter"]
CMD ["--config.file", "/etc/huaweicloud-task-exporter/config.yaml", "--web.listen-address", "0.0.0.0:9898"]
