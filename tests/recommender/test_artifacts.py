import json
import mmap
import re

import numpy as np
import pytest

from recommender import artifacts
from recommender.algorithms import ALGORITHMS, writable_state
from recommender.artifacts import (
    FORMAT,
    load_model,
    make_version,
    read_info,
    save_model,
)
from recommender.errors import ArtifactError
from recommender.explain import because
from recommender.filters import ItemFilter
from recommender.npz import ALIGN, MappedNpz

VERSION = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")


def sample_users(model) -> list[str]:
    return list(model.user_ids.ids[::25]) + ["ghost"]


@pytest.fixture(scope="module")
def als_artifact(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("artifact") / "als.npz"
    save_model(trained("als"), path)
    return path


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_round_trip_gives_identical_recommendations(algorithm, trained, tmp_path):
    model = trained(algorithm)
    path = tmp_path / f"{algorithm}.npz"
    info = save_model(model, path, metrics={"ndcg": 0.25}, extra={"source": "test"})
    loaded, loaded_info = load_model(path)

    assert loaded_info == info
    assert loaded.params == model.params
    assert loaded.trained_at == model.trained_at
    assert loaded.user_ids == model.user_ids and loaded.item_ids == model.item_ids
    assert (loaded.user_items != model.user_items).nnz == 0
    assert loaded.user_items.dtype == np.float32
    assert loaded.interactions.weights == model.interactions.weights
    assert loaded.interactions.reference_time == model.interactions.reference_time
    assert loaded.catalog.items() == model.catalog.items()
    np.testing.assert_array_equal(loaded.popularity, model.popularity)

    users = sample_users(model)
    for item_filter in (None, ItemFilter(kind="product", in_stock_only=True, max_per_category=2)):
        assert loaded.recommend_batch(users, 10, item_filter) == model.recommend_batch(users, 10, item_filter)
    item = model.item_ids[0]
    assert loaded.similar_items(item, 10) == model.similar_items(item, 10)
    history = (["p00059", "guide-0010"], [3.0, 1.0])
    assert loaded.recommend_for_history("new", *history) == model.recommend_for_history("new", *history)


def test_info_and_version(trained, tmp_path):
    model = trained("bm25")
    info = save_model(model, tmp_path / "m.npz", metrics={"ndcg": 0.5})
    assert VERSION.match(info.version), info.version
    assert info.version.startswith(make_version("0" * 64, model.trained_at)[:16])
    assert info.algorithm == "bm25"
    assert (info.users, info.items) == model.user_items.shape
    assert info.interactions == model.user_items.nnz
    assert info.metrics == {"ndcg": 0.5}
    assert info.params["neighbours"] == model.params.neighbours
    assert info.weights["purchase"] == 5.0
    assert read_info(tmp_path / "m.npz") == info


def test_every_artifact_of_a_model_has_its_own_version(trained, tmp_path):
    # the same data trained twice within one second differs only in what the info says (for example
    # the experiment variants trained with it): replicas load by version, so the versions must differ
    model = trained("bm25")
    plain = save_model(model, tmp_path / "a.npz")
    assert save_model(model, tmp_path / "b.npz").version == plain.version  # deterministic
    with_variants = save_model(model, tmp_path / "c.npz", extra={"variants": {"spring/bm25": "v"}})
    assert with_variants.version != plain.version and with_variants.version[:16] == plain.version[:16]
    model.trained_at += 0.001
    assert save_model(model, tmp_path / "d.npz").version != plain.version


def test_make_version_format():
    assert make_version("abcdef0123456789" + "0" * 48, 0.0) == "19700101T000000Z-abcdef01"
    assert make_version("ff" * 32, 1_700_000_000.9) == "20231114T221320Z-ffffffff"


def test_version_changes_with_content_not_with_a_resave(trained, tmp_path):
    first = save_model(trained("als"), tmp_path / "a.npz")
    again = save_model(trained("als"), tmp_path / "b.npz")
    other = save_model(trained("cosine"), tmp_path / "c.npz")
    assert first.version == again.version
    assert first.version.split("-")[1] != other.version.split("-")[1]


def test_save_leaves_no_temporary_files(trained, tmp_path):
    target = tmp_path / "models" / "nested" / "model.npz"
    save_model(trained("popular"), target)  # creates missing directories
    save_model(trained("cosine"), target)  # and replaces an existing artifact
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.npz"]
    assert read_info(target).algorithm == "cosine"


def test_failed_save_keeps_the_old_artifact_and_cleans_up(trained, tmp_path, monkeypatch):
    target = tmp_path / "model.npz"
    good = save_model(trained("popular"), target)

    def broken_write(handle, arrays):
        handle.write(b"half an artifact")
        raise OSError("disk full")

    monkeypatch.setattr(artifacts, "write_npz", broken_write)
    with pytest.raises(OSError, match="disk full"):
        save_model(trained("als"), target)
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    assert read_info(target) == good


# -- damaged files ------------------------------------------------------------------------------

def assert_artifact_error(path, *words):
    for reader in (load_model, read_info):
        with pytest.raises(ArtifactError) as info:
            reader(path)
        message = str(info.value)
        assert str(path) in message
        assert "\n" not in message
        for word in words:
            assert word in message


def test_truncated_file(als_artifact, tmp_path):
    blob = als_artifact.read_bytes()
    path = tmp_path / "truncated.npz"
    path.write_bytes(blob[: len(blob) // 2])
    assert_artifact_error(path, "truncated or corrupted")


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.75])
def test_flipped_bytes(als_artifact, tmp_path, fraction):
    blob = bytearray(als_artifact.read_bytes())
    start = int(len(blob) * fraction)
    blob[start:start + 16] = bytes(b ^ 0xFF for b in blob[start:start + 16])
    path = tmp_path / "flipped.npz"
    path.write_bytes(bytes(blob))
    assert_artifact_error(path, "corrupted")


def test_byte_flips_anywhere_raise_only_artifact_error(als_artifact, tmp_path):
    """Flips sampled over the whole file: each must either still verify or raise ArtifactError,
    never another exception (zipfile and numpy raise many types on bad bytes)."""
    blob = als_artifact.read_bytes()
    path = tmp_path / "flip.npz"
    positions = range(7, len(blob), len(blob) // 100)
    refused = 0
    for position in positions:
        damaged = bytearray(blob)
        damaged[position] ^= 0x5A
        path.write_bytes(bytes(damaged))
        try:
            read_info(path)
        except ArtifactError:
            refused += 1
    assert refused > 0.8 * len(positions)


@pytest.mark.parametrize("offset, value, name", [
    (10, b"\x63\x00", "unknown compression method"),
    (8, b"\x28\x00", "compressed patched data flag"),
])
def test_damaged_zip_directory_raises_artifact_error(als_artifact, tmp_path, offset, value, name):
    blob = bytearray(als_artifact.read_bytes())
    entry = blob.find(b"PK\x01\x02")  # first central directory record
    blob[entry + offset:entry + offset + 2] = value
    path = tmp_path / "damaged.npz"
    path.write_bytes(bytes(blob))
    assert_artifact_error(path, "corrupted")


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"PK\x03\x04" + b"\x00" * 64, b"\x93NUMPY"])
def test_garbage_file(tmp_path, content):
    path = tmp_path / "garbage.npz"
    path.write_bytes(content)
    assert_artifact_error(path, "truncated or corrupted")


def test_missing_file(tmp_path):
    assert_artifact_error(tmp_path / "nope.npz", "not found")


def test_directory_is_not_an_artifact(tmp_path):
    assert_artifact_error(tmp_path, "not found")


def rewrite(source, target, change) -> None:
    """Load an artifact's arrays, let `change` edit them, write them back as an npz."""
    with np.load(source) as data:
        arrays = {name: data[name] for name in data.files}
    change(arrays)
    with open(target, "wb") as handle:
        np.savez(handle, **arrays)


def set_meta(arrays, **changes) -> None:
    meta = json.loads(arrays["__meta__"].tobytes())
    meta.update(changes)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


def test_valid_zip_with_changed_array_fails_checksum(als_artifact, tmp_path):
    def tamper(arrays):
        arrays["ui_data"] = arrays["ui_data"] * 2

    path = tmp_path / "tampered.npz"
    rewrite(als_artifact, path, tamper)
    assert_artifact_error(path, "checksum")


def test_unknown_format(als_artifact, tmp_path):
    path = tmp_path / "future.npz"
    rewrite(als_artifact, path, lambda arrays: set_meta(arrays, format="encore-model/99"))
    assert_artifact_error(path, "unknown format", "encore-model/99")
    assert FORMAT == "encore-model/1"


def test_missing_metadata(als_artifact, tmp_path):
    path = tmp_path / "nometa.npz"
    rewrite(als_artifact, path, lambda arrays: arrays.pop("__meta__"))
    assert_artifact_error(path, "metadata")


def test_unreadable_metadata(als_artifact, tmp_path):
    def scramble(arrays):
        arrays["__meta__"] = np.frombuffer(b"{not json", dtype=np.uint8)

    path = tmp_path / "badmeta.npz"
    rewrite(als_artifact, path, scramble)
    assert_artifact_error(path, "metadata")


def test_plain_npy_file(tmp_path):
    path = tmp_path / "array.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.arange(10))
    with pytest.raises(ArtifactError):
        load_model(path)


# -- memory-mapped loading ----------------------------------------------------------------------

def mapped(array: np.ndarray) -> bool:
    """Whether `array` is a view into a memory map (its base chain ends in an mmap)."""
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    return base is not None


def model_arrays(model) -> dict[str, np.ndarray]:
    matrix = model.user_items
    arrays = {"ui_data": matrix.data, "ui_indices": matrix.indices, "ui_indptr": matrix.indptr}
    algorithm = model.algorithm
    if hasattr(algorithm, "similarity"):
        sim = algorithm.similarity
        return {**arrays, "sim_data": sim.data, "sim_indices": sim.indices, "sim_indptr": sim.indptr}
    if model.params.algorithm in ("ease", "ease_dan"):
        return {**arrays, "weights": algorithm.weights}
    return {**arrays, "user_factors": algorithm.user_factors, "item_factors": algorithm.item_factors}


@pytest.mark.parametrize("algorithm", ["als", "bpr", "cosine", "popular", "ease", "ease_dan"])
def test_loaded_arrays_are_memory_mapped_and_read_only(algorithm, trained, tmp_path):
    model = trained(algorithm)
    path = tmp_path / "model.npz"
    save_model(model, path)
    before = path.read_bytes()
    loaded, _ = load_model(path)

    writable = writable_state(algorithm)
    for name, array in model_arrays(loaded).items():
        assert mapped(array), name
        assert array.flags.writeable == (name in writable), name
        if name not in writable:
            with pytest.raises(ValueError, match="read-only"):
                array[...] = 0

    # everything the service does, on the mapped arrays: the same answers, and the file untouched
    users = sample_users(model)
    codes = np.arange(0, len(model.user_ids), 7)
    assert loaded.recommend_batch(users, 10) == model.recommend_batch(users, 10)
    assert loaded.similar_items(model.item_ids[3], 10) == model.similar_items(model.item_ids[3], 10)
    history = (["p00059", "guide-0010"], [3.0, 1.0])
    assert loaded.recommend_for_history("new", *history) == model.recommend_for_history("new", *history)
    for got, want in zip(loaded.precompute_indices(codes, 20), model.precompute_indices(codes, 20)):
        np.testing.assert_array_equal(got, want)
    assert because(loaded, 3, np.arange(8)) == because(model, 3, np.arange(8))
    assert path.read_bytes() == before


def test_every_array_starts_on_a_64_byte_boundary(als_artifact):
    data = MappedNpz(als_artifact)
    offsets = {name: data._members[name].offset for name in data.names}
    assert all(offset is not None and offset % ALIGN == 0 for offset in offsets.values()), offsets


def test_an_npz_written_by_numpy_still_loads(als_artifact, tmp_path, trained):
    """np.savez's members are misaligned: they are read into memory instead of mapped."""
    path = tmp_path / "numpy.npz"
    rewrite(als_artifact, path, lambda arrays: None)
    loaded, _ = load_model(path)
    users = sample_users(trained("als"))
    assert loaded.recommend_batch(users, 10) == load_model(als_artifact)[0].recommend_batch(users, 10)


@pytest.mark.parametrize("algorithm", ["personal", "repeat"])
def test_basket_models_load_mapped_and_serve_the_same(algorithm, trained, tmp_path):
    """Every model array is used in place from the map, read-only except what implicit's
    collaborative model needs writable; lists, fold-in and precompute are unchanged."""
    model = trained(algorithm)
    path = tmp_path / "model.npz"
    save_model(model, path)
    before = path.read_bytes()
    loaded, _ = load_model(path)
    state = loaded.algorithm.state()
    if algorithm == "repeat":
        state |= {f"base_sim_{k}": getattr(loaded.algorithm.base.similarity, k) for k in ("data", "indices", "indptr")}
    state.pop("store_share", None)  # a scalar, held as a float
    for name, array in state.items():
        assert mapped(array), name
        assert array.flags.writeable == (name in writable_state(algorithm)), name
    users = sample_users(model)
    assert loaded.recommend_batch(users, 10) == model.recommend_batch(users, 10)
    history = (["p00059", "guide-0010"], [3.0, 1.0])
    typed = {"timestamps": [1.0, 2.0], "types": ["purchase", "view"]}
    folded = model.recommend_for_history("new", *history, **typed)
    assert loaded.recommend_for_history("new", *history, **typed) == folded
    codes = np.arange(0, len(model.user_ids), 7)
    for got, want in zip(loaded.precompute_indices(codes, 20), model.precompute_indices(codes, 20)):
        np.testing.assert_array_equal(got, want)
    assert path.read_bytes() == before
