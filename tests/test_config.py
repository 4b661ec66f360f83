"""Settings: defaults per CONTRACT.md, read from the environment, bad values refused."""

import dataclasses

import pytest

from digitrec.config import ROOT, ConfigError, Settings


def test_defaults_follow_the_contract():
    settings = Settings.from_env({})
    assert settings.port == 5000
    assert settings.store == str(ROOT / "tmp" / "store")
    assert settings.s3_endpoint_url is None
    assert settings.admin_token is None
    assert settings.cors_origins == ()
    assert settings.web_concurrency == 2
    assert settings.models_dir == ROOT / "models"


def test_environment_variables_are_read():
    settings = Settings.from_env(
        {
            "PORT": "8080",
            "DIGITREC_STORE": "s3://bucket/prefix",
            "DIGITREC_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "DIGITREC_ADMIN_TOKEN": "secret-token",
            "DIGITREC_CORS_ORIGINS": " https://a.example , https://b.example,",
            "WEB_CONCURRENCY": "4",
            "DIGITREC_CANARY_MAX_DROP": "0.02",
            "DIGITREC_FOLLOW_INTERVAL": "3.5",
        }
    )
    assert settings.port == 8080
    assert settings.store == "s3://bucket/prefix" and settings.is_s3
    assert settings.s3_endpoint_url == "http://127.0.0.1:9000"
    assert settings.admin_token == "secret-token"
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.web_concurrency == 4
    assert settings.canary_max_drop == 0.02
    assert settings.follow_seconds == 3.5


def test_blank_variables_keep_the_default():
    assert Settings.from_env({"PORT": "", "DIGITREC_ADMIN_TOKEN": "  "}) == Settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("WEB_CONCURRENCY", "0"),
        ("DIGITREC_CANARY_SIZE", "-5"),
        ("DIGITREC_CNN_LEARNING_RATE", "nan"),
        ("DIGITREC_FNN_REPLAY_SIZE", "-1"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_predictions_check_a_local_store_every_time_and_s3_every_two_seconds():
    assert Settings(store="tmp/x").follow_seconds == 0.0
    assert Settings(store="s3://bucket").follow_seconds == 2.0
    assert Settings(store="s3://bucket", follow_interval=0.5).follow_seconds == 0.5


def test_settings_are_immutable_and_replace_makes_a_copy():
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    changed = settings.replace(port=6000)
    assert changed.port == 6000 and settings.port == 5000
