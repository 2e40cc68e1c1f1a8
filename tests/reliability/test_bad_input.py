"""Bad input never becomes a 500: schemathesis against the real server, hypothesis on the parsers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.catalog import Catalog
from recommender.errors import InputError
from recommender.events import EventTable
from service.errors import BadInput
from service.ingest import parse_batch, parse_items
from tests.reliability.conftest import ADMIN, ServiceProcess

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=300),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=20,
)
EVENT_LIKE = st.fixed_dictionaries({}, optional={
    "user_id": st.text(max_size=300) | st.integers() | st.none(),
    "item_id": st.text(max_size=300) | st.integers() | st.none(),
    "type": st.sampled_from(["view", "click", "add_to_cart", "purchase", "review", "impression", ""]) | st.text(),
    "timestamp": st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.text() | st.none()
    | st.datetimes().map(lambda d: d.isoformat()),
    "value": st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.text() | st.booleans() | st.none(),
    "event_id": st.text(max_size=300) | st.integers() | st.none(),
})
ITEM_LIKE = st.fixed_dictionaries({}, optional={
    "item_id": st.text(max_size=300) | st.integers() | st.none(),
    "kind": st.sampled_from(["product", "content", "bundle"]) | st.text() | st.none(),
    "category": st.text() | st.integers() | st.none(),
    "in_stock": st.booleans() | st.text() | st.integers() | st.none(),
    "created_at": st.floats(allow_nan=True) | st.text() | st.none() | st.datetimes().map(lambda d: d.isoformat()),
    "title": st.text() | st.none(),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=JSON | EVENT_LIKE | st.lists(EVENT_LIKE, max_size=5))
def test_event_parser_raises_only_its_validation_error(payload):
    try:
        table = parse_batch(payload, now=1_700_000_000.0).events
    except BadInput as exc:
        assert exc.code.startswith(("invalid_", "too_many_")) and exc.message
    else:
        assert len(table) >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=JSON | st.lists(ITEM_LIKE, max_size=5))
def test_catalog_parser_raises_only_its_validation_error(payload):
    try:
        catalog = parse_items(payload)
    except BadInput as exc:
        assert exc.code.startswith(("invalid_", "too_many_")) and exc.message
    else:
        assert len(catalog) >= 1


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.dictionaries(st.sampled_from(["user_id", "item_id", "type", "timestamp", "value",
                                                      "kind", "in_stock", "created_at", "category"]),
                                     st.none() | st.text(max_size=20) | st.floats() | st.integers()), max_size=5))
def test_library_frame_parsers_raise_only_input_error(rows):
    frame = pd.DataFrame(rows, dtype=object)
    for parse in (EventTable.from_frame, Catalog.from_frame):
        try:
            parse(frame)
        except InputError:
            pass


def test_schemathesis_finds_no_server_error_or_schema_violation(service_env, services, tmp_path):
    cli = Path(sys.executable).with_name("schemathesis")
    assert cli.exists() or shutil.which("schemathesis"), "schemathesis is in the dev extra"
    service = ServiceProcess({**service_env, "RECS_RATE_LIMIT": "0"}, tmp_path / "svc.log").start()
    services.append(service)
    service.wait_ready()
    result = subprocess.run(
        [str(cli), "run", f"{service.base}/openapi.json", "-H", f"Authorization: Bearer {ADMIN}",
         "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,"
         "content_type_conformance", "--phases", "coverage,fuzzing", "--max-time", "40", "-w", "1",
         "--seed", "1", "--request-timeout", "30"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    assert " passed" in summary and "failed" not in summary.split("SUMMARY")[-1]
    assert "unhandled error" not in (tmp_path / "svc.log").read_text()  # what error_middleware logs for bugs
