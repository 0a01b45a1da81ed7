FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY learners learners
COPY streams streams
COPY producers producers
COPY benchmarks benchmarks
RUN pip install --no-cache-dir .
ENTRYPOINT []
CMD ["adstream", "worker"]
