from pathlib import Path

import pytest

from service.settings import ENV_NAMES, Settings, SettingsError


def test_defaults_are_safe():
    settings = Settings.from_env({})
    assert settings.host == "127.0.0.1" and settings.port == 8080 and settings.redis_url is None
    assert settings.refresh_interval == 3600 and settings.max_quality_drop == 0.2
    assert settings.write_keys == () and settings.models_path == Path("data/service/models")


def test_values_are_read_from_the_environment():
    settings = Settings.from_env({"RECS_PORT": "9000", "REDIS_URL": "redis://h:1/0", "RECS_WRITE_KEYS": "a, b,,",
                                  "RECS_TRAIN_ON_START": "false", "RECS_DATA_DIR": "/tmp/x",
                                  "RECS_MAX_QUALITY_DROP": "0.5"})
    assert settings.port == 9000 and settings.redis_url == "redis://h:1/0"
    assert settings.write_keys == ("a", "b") and settings.train_on_start is False
    assert settings.data_dir == Path("/tmp/x") and settings.max_quality_drop == 0.5


@pytest.mark.parametrize("env", [{"RECS_PORT": "x"}, {"RECS_ALGORITHM": "magic"}, {"RECS_MAX_QUALITY_DROP": "2"},
                                 {"RECS_POLL_INTERVAL": "0"}, {"RECS_TRAIN_ON_START": "perhaps"},
                                 {"RECS_REDIS_CLUSTER": "1"}, {"RECS_KEY_PREFIX": "shop{1}"},
                                 {"RECS_REDIS_READ_TIMEOUT": "0"}, {"RECS_REPEAT": "sometimes"},
                                 {"RECS_REPEAT": "ON "}, {"RECS_ALGORITHM": "repeat", "RECS_REPEAT": "off"},
                                 {"RECS_TRAINER": "spark"}, {"RECS_FALLBACK": "random"},
                                 {"RECS_TRENDING_HOURS": "0"}, {"RECS_TRENDING_HOURS": "1000"}])
def test_bad_values_are_refused(env):
    with pytest.raises(SettingsError):
        Settings.from_env(env)


@pytest.mark.parametrize("env, words", [  # each passed start-up once and broke the running service
    ({"RECS_LOCK_TTL": "0"}, "RECS_LOCK_TTL must be from 1"),
    ({"RECS_EVENT_ID_TTL": "0"}, "RECS_EVENT_ID_TTL must be from 1"),
    ({"RECS_CACHE_TTL": "-1"}, "RECS_CACHE_TTL must be from 1"),
    ({"RECS_SINCE_TRAINING_TTL": "-5"}, "RECS_SINCE_TRAINING_TTL must be from 1"),
    ({"RECS_RATE_LIMIT_BURST": "0"}, "RECS_RATE_LIMIT_BURST must be at least 1"),
    ({"RECS_RATE_LIMIT": "-1"}, "RECS_RATE_LIMIT must be 0 (off) or more"),
    ({"RECS_REFRESH_INTERVAL": "nan"}, "RECS_REFRESH_INTERVAL must be a finite number"),
    ({"RECS_POLL_INTERVAL": "inf"}, "RECS_POLL_INTERVAL must be a finite number"),
    ({"RECS_REDIS_READ_TIMEOUT": "nan"}, "RECS_REDIS_READ_TIMEOUT must be a finite number"),
    ({"RECS_MAX_BATCH_BODY_BYTES": "-1"}, "RECS_MAX_BATCH_BODY_BYTES must be positive"),
    ({"RECS_ACTIVE_DAYS": "-1"}, "RECS_ACTIVE_DAYS must be positive"),
    ({"RECS_PORT": "99999"}, "RECS_PORT must be from 0 (any free port) to 65535"),
    ({"RECS_PORT": "-1"}, "RECS_PORT must be from 0 (any free port) to 65535"),
    ({"RECS_LOG_LEVEL": "LOUD"}, "RECS_LOG_LEVEL must be one of DEBUG"),
    ({"REDIS_URL": "notaurl"}, "REDIS_URL must start with one of redis://"),
    ({"REDIS_URL": "redis://127.0.0.1:99999/0"}, "REDIS_URL is not a valid Redis URL"),
    ({"REDIS_URL": "redis://127.0.0.1:6379/0?socket_timeout=abc"}, "REDIS_URL is not a valid Redis URL"),
    ({"RECS_SINCE_TRAINING_TTL": "1e20"}, "RECS_SINCE_TRAINING_TTL must be from 1 to 315360000"),
    ({"RECS_LOCK_TTL": "1e300"}, "RECS_LOCK_TTL must be from 1 to 315360000"),
    ({"RECS_PRECOMPUTE_N": "99999999999"}, "RECS_PRECOMPUTE_N must be at most 10000"),
])
def test_values_the_service_cannot_run_with_are_start_up_errors(env, words):
    with pytest.raises(SettingsError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env(env)


def test_a_rate_limit_off_needs_no_burst_and_log_levels_ignore_case():
    assert Settings.from_env({"RECS_RATE_LIMIT": "0", "RECS_RATE_LIMIT_BURST": "0"}).rate_limit == 0
    assert Settings.from_env({"RECS_LOG_LEVEL": "debug", "REDIS_URL": "rediss+cluster://h:1"}).log_level == "debug"


def test_every_setting_is_documented_in_the_readme():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    missing = [name for name in ENV_NAMES.values() if f"`{name}`" not in readme]
    assert not missing, f"settings missing from README: {missing}"


@pytest.mark.parametrize(("env", "cluster"), [
    ({"REDIS_URL": "redis://h:1/0"}, False),
    ({"REDIS_URL": "redis+cluster://h:1"}, True),
    ({"REDIS_URL": "rediss+cluster://h:1"}, True),
    ({"REDIS_URL": "redis://h:1", "RECS_REDIS_CLUSTER": "1"}, True),
])
def test_a_cluster_is_named_by_the_url_scheme_or_the_flag(env, cluster):
    assert Settings.from_env(env).cluster is cluster


def test_model_choice_is_the_default_and_the_settings_narrow_it():
    settings = Settings.from_env({})
    assert (settings.algorithm, settings.repeat, settings.repeats) == ("auto", "auto", None)
    assert Settings.from_env({"RECS_REPEAT": "on"}).repeats is True
    assert Settings.from_env({"RECS_REPEAT": "off", "RECS_ALGORITHM": "cosine"}).repeats is False


@pytest.mark.parametrize("env, words", [
    ({"RECS_REPEAT": "sometimes"}, "RECS_REPEAT must be one of auto, on, off, not 'sometimes'"),
    ({"RECS_ALGORITHM": "personal", "RECS_REPEAT": "off"}, "always serves bought items"),
    ({"RECS_ALGORITHM": "magic"}, "RECS_ALGORITHM must be auto or one of"),
])
def test_a_bad_repeat_or_algorithm_setting_is_a_clear_start_up_error(env, words, monkeypatch, capsys):
    with pytest.raises(SettingsError, match=words):
        Settings.from_env(env)
    from service.__main__ import main

    for name in ("RECS_REPEAT", "RECS_ALGORITHM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main([]) == 2  # the service does not start, and says why
    assert words.split(",")[0] in capsys.readouterr().err


def test_the_lifecycle_settings_default_to_ten_percent_and_the_documented_churn_bands():
    config = Settings.from_env({}).lifecycle_config
    assert (config.annual_discount, config.churn_medium, config.churn_high) == (0.10, 0.5, 0.8)
    custom = Settings.from_env({"RECS_ANNUAL_DISCOUNT": "0", "RECS_CHURN_MEDIUM": "0.3", "RECS_CHURN_HIGH": "0.3"})
    assert custom.lifecycle_config.churn_medium == custom.lifecycle_config.churn_high == 0.3


@pytest.mark.parametrize("env, words", [
    ({"RECS_ANNUAL_DISCOUNT": "-0.1"}, "RECS_ANNUAL_DISCOUNT must be"),
    ({"RECS_ANNUAL_DISCOUNT": "nan"}, "RECS_ANNUAL_DISCOUNT must be"),
    ({"RECS_CHURN_MEDIUM": "0.9"}, "RECS_CHURN_MEDIUM and RECS_CHURN_HIGH need"),
    ({"RECS_CHURN_HIGH": "1.5"}, "RECS_CHURN_MEDIUM and RECS_CHURN_HIGH need"),
])
def test_a_bad_lifecycle_setting_is_a_clear_start_up_error(env, words):
    with pytest.raises(SettingsError, match=words):
        Settings.from_env(env)
