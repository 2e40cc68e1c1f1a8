"""wrk's output parsed, Lua quoting, and the generated script driving a real wrk against a local server."""

from __future__ import annotations

import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.harness.processes import BenchError
from benchmarks.harness.wrk import lua_string, parse_duration_ms, parse_wrk, run_wrk, write_lua

#: What `wrk -t1 -c4 -d1s --latency -s script` printed against benchmarks.bare_server hello.
OUTPUT = """\
Running 1s test @ http://127.0.0.1:18931/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   754.03us    1.67ms  16.75ms   90.81%
    Req/Sec    14.18k     3.47k   19.84k    63.64%
  Latency Distribution
     50%  205.00us
     75%  309.00us
     90%    2.21ms
     99%    9.74ms
  15500 requests in 1.11s, 2.39MB read
Requests/sec:  13998.56
Transfer/sec:      2.16MB
ENCORE_DONE requests=15500 duration_us=1107257 p50_us=205 p90_us=2206 p95_us=3677 p99_us=9741 max_us=16751 \
connect=0 read=0 write=0 status=0 timeout=0
"""


def test_parse_wrk_reads_the_distribution_and_the_done_line() -> None:
    result = parse_wrk(OUTPUT)
    assert result.requests == 15500
    assert result.seconds == pytest.approx(1.107257)
    assert result.rps == pytest.approx(13998.56)
    assert (result.p50_ms, result.p90_ms, result.p99_ms) == pytest.approx((0.205, 2.21, 9.74))
    assert result.p95_ms == pytest.approx(3.677)  # only the done() hook gives it
    assert result.max_ms == pytest.approx(16.751)
    assert (result.non_2xx, result.socket_errors) == (0, 0)


def test_parse_wrk_counts_errors() -> None:
    text = (OUTPUT.replace("connect=0 read=0 write=0 status=0 timeout=0", "connect=1 read=3 write=0 status=7 timeout=2")
            .replace("Requests/sec:", "  Non-2xx or 3xx responses: 7\nRequests/sec:"))
    result = parse_wrk(text)
    assert result.non_2xx == 7
    assert result.socket_errors == 6  # connect + read + write + timeout; status errors are the non-2xx


def test_parse_wrk_falls_back_to_the_hook_without_a_distribution() -> None:
    text = "\n".join(line for line in OUTPUT.splitlines() if "%  " not in line)
    result = parse_wrk(text)
    assert (result.p50_ms, result.p90_ms, result.p99_ms) == pytest.approx((0.205, 2.206, 9.741))


def test_parse_wrk_refuses_output_without_the_done_line() -> None:
    with pytest.raises(BenchError, match="could not parse wrk output"):
        parse_wrk(OUTPUT.split("ENCORE_DONE")[0])


@pytest.mark.parametrize("text, ms", [("812.00us", 0.812), ("1.25ms", 1.25), ("2.00s", 2000.0), ("1.50m", 90_000.0)])
def test_durations(text: str, ms: float) -> None:
    assert parse_duration_ms(text) == pytest.approx(ms)


def test_duration_without_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="not a wrk duration"):
        parse_duration_ms("12")


def test_lua_string_quotes_anything_but_its_own_closing_bracket() -> None:
    assert lua_string('{"a": "b\\n"}') == '[===[{"a": "b\\n"}]===]'
    with pytest.raises(ValueError):
        lua_string("x]===]y")


class _Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    disable_nagle_algorithm = True  # headers and body are two writes: answers would wait for a delayed ACK
    seen: list[tuple[str, str, str, str | None]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode() if length else ""
        self.seen.append((self.command, self.path, body, self.headers.get("X-Test")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list]]:
    _Recorder.seen = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.seen
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench installs it)")
def test_the_script_cycles_paths_from_the_offset_with_bodies_and_headers(recorder: tuple[str, list],
                                                                        tmp_path: Path) -> None:
    url, seen = recorder
    script = write_lua(tmp_path / "mix.lua", "POST", ["/a", "/b", "/c"], ['{"n": 1}', '{"n": 2}'],
                       {"X-Test": "yes"}, offset=1)
    result = run_wrk(shutil.which("wrk"), url, script, seconds=1, threads=1, connections=1)
    assert result.requests >= 6 and result.non_2xx == 0 and result.socket_errors == 0
    # one connection, so requests arrive in the script's order, round and round from the offset; wrk
    # calls request() once to verify the script before sending, so /b (offset 1) is skipped, never
    # repeated. Bodies are reused in turn per path: /a and /c get the first, /b the second.
    expected = [("/c", '{"n": 1}'), ("/a", '{"n": 1}'), ("/b", '{"n": 2}')] * 2
    assert [(path, body) for _, path, body, _ in seen[:6]] == expected
    assert {(method, header) for method, _, _, header in seen} == {("POST", "yes")}


def test_a_think_time_adds_wrks_delay_hook_and_only_then(tmp_path: Path) -> None:
    plain = write_lua(tmp_path / "plain.lua", "GET", ["/a"]).read_text()
    paced = write_lua(tmp_path / "paced.lua", "GET", ["/a"], think_ms=25, seed=7).read_text()
    assert "function delay()" not in plain  # wrk takes any delay() hook, even one returning 0, as pacing
    assert "function delay()" in paced and "math.randomseed(7)" in paced and "* 25.0" in paced
    with pytest.raises(ValueError, match="think_ms"):
        write_lua(tmp_path / "bad.lua", "GET", ["/a"], think_ms=-1)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench installs it)")
def test_a_think_time_paces_each_connection(recorder: tuple[str, list], tmp_path: Path) -> None:
    """One connection waiting 100 ms on average before each request sends about 20 in 2 s, where the same
    connection unpaced sends hundreds or more (the recorder answers in well under a millisecond)."""
    url, _ = recorder
    paced = write_lua(tmp_path / "paced.lua", "GET", ["/a"], think_ms=100, seed=1)
    result = run_wrk(shutil.which("wrk"), url, paced, seconds=2, threads=1, connections=1)
    assert 3 <= result.requests <= 60 and result.non_2xx == 0 and result.socket_errors == 0
    unpaced = run_wrk(shutil.which("wrk"), url, write_lua(tmp_path / "unpaced.lua", "GET", ["/a"]),
                      seconds=1, threads=1, connections=1)
    assert unpaced.requests > 3 * result.requests, (unpaced, result)
