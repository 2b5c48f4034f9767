"""The deployment file: valid against the Compose Specification, every LGSP service built
from this repo, and each service's environment wired to the service that provides it
(catalogue and metadata on PostgreSQL, broker on Redis, warehouse on MinIO).

No Docker engine or compose client runs on the development machines, so the file is
validated here the way `docker compose config` starts: YAML anchors and merge keys
resolved, then the compose-spec JSON schema (the one check-jsonschema vendors), before and
after variable interpolation, plus the cross-references compose resolves (services,
volumes, files). `docker compose config` itself runs where a client is installed, and is
reported as skipped where none is.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema

from lgsp.config import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
LGSP_SERVICES = ("airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                 "airflow-worker", "population-registry")

_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*)|(?P<dollar>\$))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)


def _load() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text("utf-8"))


def interpolate(value: Any, env: dict[str, str], where: str = "") -> Any:
    """Compose's variable interpolation over a loaded document: ${VAR}, ${VAR:-default},
    ${VAR-default}, ${VAR:?error}, $VAR and $$. An unset variable without a default is an
    error naming the key path (compose would substitute an empty string with a warning)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match["dollar"]:
            return "$"
        text = match["braced"] if match["braced"] is not None else match["plain"]
        parsed = _BRACED.fullmatch(text)
        if parsed is None:
            raise ValueError(f"{where}: invalid interpolation ${{{text}}}")
        name, op, arg = parsed["name"], parsed["op"], parsed["arg"]
        current = env.get(name)
        if op in (":-", "-"):
            unset = current is None or (op == ":-" and current == "")
            return arg if unset else str(current)
        if op in (":?", "?"):
            if current is None or (op == ":?" and current == ""):
                raise ValueError(f"{where}: required variable {name} is unset ({arg})")
            return current
        if current is None:
            raise ValueError(f"{where}: variable {name} has no default and is unset")
        return current

    return _VARIABLE.sub(one, value)


def _schema_errors(document: dict[str, Any]) -> list[str]:
    schema = get_builtin_schema("vendor.compose-spec")
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in validator.iter_errors(document)]


def test_the_schema_catches_what_compose_would_refuse():
    """The validator used below is not vacuous: mistakes compose refuses are errors."""
    broken = _load()
    broken["services"]["redis"]["healthcheck"]["interval"] = 5  # a duration is a string
    broken["services"]["minio"]["portz"] = ["9001:9001"]  # unknown key
    broken["services"]["postgres"]["restart"] = ["always"]
    errors = _schema_errors(broken)
    assert any(e.startswith("services/redis/healthcheck/interval") for e in errors), errors
    assert any("portz" in e for e in errors), errors
    assert any(e.startswith("services/postgres/restart") for e in errors), errors
    with pytest.raises(ValueError, match="variable NOPE has no default"):
        interpolate({"x": "a ${NOPE} b"}, {})
    assert interpolate({"x": "$${A} ${A:-1} ${B:-2} $B"}, {"B": "3"}) == {"x": "${A} 1 3 3"}


def test_compose_file_is_valid_against_the_compose_spec():
    document = _load()
    assert _schema_errors(document) == []
    # Every variable has a default: `docker compose up` works without an .env file, and the
    # interpolated file is valid too (the schema types some values only after substitution).
    resolved = interpolate(document, {})
    assert _schema_errors(resolved) == []


def test_references_resolve():
    data = interpolate(_load(), {})
    services = data["services"]
    declared_volumes = set(data.get("volumes") or {})
    for name, service in services.items():
        for target in service.get("depends_on") or {}:
            assert target in services, f"{name} depends on unknown service {target}"
            condition = service["depends_on"][target].get("condition")
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}'s health"
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (PROJECT_ROOT / source).exists(), f"{name}: bind mount {source} missing"
            else:
                assert source in declared_volumes, f"{name}: volume {source} not declared"
        if "build" in service:
            context = service["build"] if isinstance(service["build"], str) else service["build"]["context"]
            assert (PROJECT_ROOT / context / "Dockerfile").exists(), name
    published = [p.split(":")[0] for s in services.values() for p in s.get("ports") or []]
    assert len(published) == len(set(published)), f"a host port is published twice: {published}"


def test_lgsp_services_are_built_here_and_wired_to_their_backends():
    data = interpolate(_load(), {})
    services = data["services"]
    for name in ("postgres", "redis", "minio", *LGSP_SERVICES):
        assert name in services, name
    for name in LGSP_SERVICES:
        service = services[name]
        assert service.get("build") == "." and service["image"] == "lgsp:latest", name
        env = service["environment"]
        catalog = urlsplit(env["LGSP_CATALOG_URI"])
        airflow_db = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        # Catalogue and metadata on the compose PostgreSQL, with its user and password.
        postgres = services["postgres"]["environment"]
        for url in (catalog, airflow_db, urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"])):
            assert "postgresql" in url.scheme.split("+"), url
            assert url.hostname == "postgres" and url.port == 5432, url
            assert (url.username, url.password) == (postgres["POSTGRES_USER"],
                                                    postgres["POSTGRES_PASSWORD"]), url
        assert catalog.scheme == "postgresql+psycopg"  # SQLAlchemy driver pyiceberg's catalog uses
        assert airflow_db.path == f"/{postgres['POSTGRES_DB']}"
        init_sql = (PROJECT_ROOT / "deploy" / "postgres-init.sql").read_text("utf-8")
        assert re.search(rf"CREATE DATABASE {re.escape(catalog.path[1:])}\b", init_sql), catalog
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
        assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)
        # The warehouse on MinIO with MinIO's root credentials.
        minio = services["minio"]["environment"]
        assert urlsplit(env["AWS_ENDPOINT_URL"]).hostname == "minio"
        assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (
            minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"])
        # The DAGs read the population registry where its service listens, and the Celery
        # workers reach the API server on the port it serves.
        registry = urlsplit(env["LGSP_POPULATION_URL"])
        command = services["population-registry"]["command"]
        assert registry.hostname == "population-registry"
        assert str(registry.port) == command[command.index("--port") + 1]
        api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
        api_command = services["airflow-apiserver"]["command"]
        assert api.hostname == "airflow-apiserver"
        assert str(api.port) == api_command[api_command.index("--port") + 1]
        # One generated DAG file per spec, written by the bundle into the shared volume from
        # the specs the image ships (the Dockerfile's WORKDIR /app).
        dags = env["AIRFLOW__CORE__DAGS_FOLDER"]
        assert dags.startswith("/data/")
        (bundle,) = json.loads(env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"])
        assert bundle["classpath"] == "lgsp.dag_bundle.SpecDagBundle"
        assert bundle["kwargs"]["path"] == dags
        assert bundle["kwargs"]["specs_dir"] == "/app/catalog/datasets"
        assert env["LGSP_HOME"].startswith("/data/") and "lgsp-data:/data" in service["volumes"]
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text("utf-8")
    assert "WORKDIR /app" in dockerfile and "uv sync --frozen" in dockerfile


def _compose_command() -> list[str] | None:
    tool = shutil.which("docker-compose")
    if tool:
        return [tool, "config", "-q"]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose", "config", "-q"]
    return None


def test_docker_compose_config_accepts_the_file():
    cmd = _compose_command()
    if cmd is None:
        pytest.skip("no compose client installed (docker compose / docker-compose): the file "
                    "was validated against the compose-spec schema above instead")
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
