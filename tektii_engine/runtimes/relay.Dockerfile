# The gateway sidecar: forwards 127.0.0.1:8080 of the run's network namespace to the
# engine's Unix socket. Built locally by tektii (never pulled); see docs/runtimes.md.
FROM python:3.11-slim
# The container's root file system is read-only at run time: no .pyc files.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY relay.py /opt/tektii/relay.py
CMD ["python", "/opt/tektii/relay.py"]
