"""Loads config.yaml, validates all of it at start, and gives typed sections with defaults.

``schema`` declares every key once, with pydantic (the only package importing it): the whole
``Config`` and most sections, with those of ``sources``, ``delivery``, ``bounces`` and ``web``
(the readers' pages) in modules of their own, on the base and shared checks of ``section``.
``yaml_doc`` reads YAML with the line of every key, ``loading`` validates the file and reports
all problems at once, ``checks`` refuses values no header or limit may hold, and ``reference``
generates the README's table and the commented file of ``bulletin init``.
"""

from bulletin.config.bounces import BouncesConfig, ImapConfig
from bulletin.config.delivery import DeliveryConfig, RecipientConfig, SmtpConfig
from bulletin.config.loading import load_config, parse_config, read_secret, with_listen
from bulletin.config.reference import commented_config, config_keys, reference_table
from bulletin.config.schema import (
    CONFIG_NAME,
    CategoryConfig,
    Config,
    DigestConfig,
    FeedsConfig,
    ScheduleConfig,
    SiteConfig,
    StoreConfig,
)
from bulletin.config.sources import SourceConfig
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
