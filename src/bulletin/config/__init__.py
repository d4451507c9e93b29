"""Loads config.yaml, validates all of it at start, and gives typed sections with defaults.

``schema`` declares every key once (pydantic: the only package importing it, with yaml), the
bounce mailbox's in ``bounces``, the readers' pages' in ``web``, on the base of ``section``;
``loading`` reads the file with the line of every key and reports all problems at once;
``reference`` generates the README's table and the commented file of ``bulletin init``.
"""

from bulletin.config.bounces import BouncesConfig, ImapConfig
from bulletin.config.loading import load_config, parse_config, read_secret, with_listen
from bulletin.config.reference import commented_config, config_keys, reference_table
from bulletin.config.schema import (
    CONFIG_NAME,
    CategoryConfig,
    Config,
    DeliveryConfig,
    DigestConfig,
    FeedsConfig,
    RecipientConfig,
    ScheduleConfig,
    SiteConfig,
    SmtpConfig,
    SourceConfig,
    StoreConfig,
)
from bulletin.config.web import WebConfig

__all__ = [
    "CONFIG_NAME",
    "BouncesConfig",
    "CategoryConfig",
    "Config",
    "DeliveryConfig",
    "DigestConfig",
    "FeedsConfig",
    "ImapConfig",
    "RecipientConfig",
    "ScheduleConfig",
    "SiteConfig",
    "SmtpConfig",
    "SourceConfig",
    "StoreConfig",
    "WebConfig",
    "commented_config",
    "config_keys",
    "load_config",
    "parse_config",
    "read_secret",
    "reference_table",
    "with_listen",
]
