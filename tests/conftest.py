import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SAMPLE = os.path.join(ROOT, "data", "sample_shop.csv")


@pytest.fixture
def write(tmp_path):
    """write(name, content) -> path; str content is written as UTF-8 unless encoding= is given."""

    def _write(name, content, encoding="utf-8"):
        path = tmp_path / name
        if isinstance(content, str):
            content = content.encode(encoding)
        path.write_bytes(content)
        return str(path)

    return _write


@pytest.fixture(scope="session")
def sample_log():
    import journey

    return journey.load(SAMPLE)
