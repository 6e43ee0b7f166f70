"""The docs stay true to the code."""

import inspect
import os

import journey
from journey.cli import build_parser

from .conftest import ROOT


def test_every_public_function_documents_what_it_returns():
    missing = [
        name for name in journey.__all__
        if inspect.isfunction(getattr(journey, name)) and name != "quote_ident"
        and "Returns" not in (getattr(journey, name).__doc__ or "")
    ]
    assert missing == []


def test_readme_shows_every_cli_command_and_option():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, command in sub.choices.items():
        assert f"python -m journey {name}" in readme, name
        for action in command._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in readme, f"{name} {flag}"


def test_readme_screenshot_exists():
    assert os.path.exists(os.path.join(ROOT, "docs", "img", "overview.png"))
