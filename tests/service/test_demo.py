"""`make demo` prints a working command for every route of the API."""

from __future__ import annotations

import re

from service.demo import examples
from service.http.routes import ROUTES


def test_the_printed_commands_show_every_route():
    text = examples("http://h", {"read": "r", "write": "w", "admin": "a"}, user="u000001", item="p00001")
    for method, path, _ in ROUTES:
        pattern = re.escape("http://h" + path)
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/?']+", pattern) + "[?']"
        commands = [line for line in text.splitlines() if re.search(pattern, line)]
        if method != "GET":
            commands = [line for line in commands if f"-X {method}" in line]
        assert commands, f"no command for {method} {path}"
