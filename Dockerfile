# One image for every LGSP service (Airflow components, the simulated registries, tools).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
RUN pip install --no-cache-dir uv && apt-get update \
    && apt-get install -y --no-install-recommends libc-bin && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-group bench --no-install-project --compile-bytecode
COPY . .
RUN uv sync --frozen --no-dev --no-group bench --compile-bytecode
