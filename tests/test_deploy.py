"""The deployment files (Docker cannot run here, so they are parsed)."""

import os
import tomllib

from .conftest import ROOT


def read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def instructions(text):
    out, current = [], ""
    for line in text.splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            out.append(current.strip())
            current = ""
    return out


def test_dockerfile():
    lines = instructions(read("Dockerfile"))
    keywords = [line.split()[0] for line in lines]
    assert lines[0].startswith("FROM python:3.11-slim")
    assert "USER" in keywords and lines[keywords.index("USER")] != "USER root"
    assert keywords.index("USER") > keywords.index("RUN")  # the app runs as the non-root user
    assert any(line.startswith("EXPOSE 8501") for line in lines)
    health = next(line for line in lines if line.startswith("HEALTHCHECK"))
    assert "/_stcore/health" in health
    assert "JOURNEY_MODE=hosted" in next(line for line in lines if line.startswith("ENV"))
    for path in ("requirements.txt", "app.py", "pages", "journey", "data", ".streamlit"):
        assert any(line.startswith("COPY") and path in line for line in lines), path
        assert os.path.exists(os.path.join(ROOT, path))


def test_streamlit_config():
    config = tomllib.loads(read(".streamlit/config.toml"))
    assert config["server"]["enableXsrfProtection"] is True
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["maxUploadSize"] >= 200


def test_compose_mounts_data_read_only():
    text = read("docker-compose.yml")
    assert "8501:8501" in text and ":ro" in text and "JOURNEY_MODE: hosted" in text
