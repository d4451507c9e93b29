"""The orchestration: a run context built once from the config, then one idempotent step.

The pipeline passes data between the stages (sources, store, feeds, digest, delivery), which
never import each other. ``RunContext`` (``context``) turns the config into the stages' types
once per run; ``run_step`` (``step``) collects, publishes, plans and sends whatever is due, for
``bulletin run`` (one given day), ``run --once`` and ``serve`` alike. Every function takes the
clock it may read, so tests can move time. A dry run reads and builds everything but writes
nothing: not the store, not a file, no mail.

Modules: ``context`` (config -> stages' types), ``runner`` (locks, stop requests, run logs),
``collect``, ``feed_sources`` (fetching feed sources side by side, ``bulletin sources``),
``publish`` (the feeds), ``websub`` (telling a hub the feeds changed), ``digests``
(rendering, variants, web copies), ``send`` (a day's send through the ledger), ``bounces``
(the bounce mailbox, the rules that take addresses off the list, bounce and complaint rates),
``step``, ``shared`` (several `bulletin serve` on one PostgreSQL store: who leads, what the
others do), ``status`` (health, metrics, a day's deliveries), ``subscribers`` (the mailing
list), ``signup`` (double opt-in and the form's defences; ``proof``: ALTCHA), ``preferences``
(a reader's own page), ``pages`` (the readers' pages from the theme), ``preview`` (``bulletin
digest``), ``dry_run``.
"""

from __future__ import annotations

from bulletin.pipeline.bounces import (
    Feedback,
    Handled,
    IngestReport,
    Rules,
    count_refusals,
    feedback,
    ingest_bounces,
)
from bulletin.pipeline.collect import CollectReport, collect, collect_sources, read_sources
from bulletin.pipeline.context import Clock, RunContext, system_clock
from bulletin.pipeline.digests import Digests, Variants, published_days
from bulletin.pipeline.dry_run import DryRunView, ItemView
from bulletin.pipeline.feed_sources import (
    SourceRow,
    looks_like_url,
    read_feeds,
    reset_source,
    source_rows,
)
from bulletin.pipeline.pages import Pages
from bulletin.pipeline.preferences import Choice, Preferences, Reader
from bulletin.pipeline.preview import Preview, preview_digest, preview_message
from bulletin.pipeline.publish import (
    FeedFile,
    FeedsReport,
    feed_categories,
    publish_feeds,
    rebuild_feeds,
)
from bulletin.pipeline.runner import (
    RUN_LOCK,
    SERVE_LOCK,
    RunLog,
    Stop,
    runner_store,
    serve_lock,
    store_lock,
    upgrade_store,
)
from bulletin.pipeline.send import (
    SendReport,
    all_sent,
    send_day,
    send_rows,
    unsubscribe_links,
    unsubscribe_url,
)
from bulletin.pipeline.shared import Node
from bulletin.pipeline.signup import Answer, SignupDesk, SignupForm
from bulletin.pipeline.status import (
    DayStatus,
    Monitor,
    ServiceStatus,
    day_status,
    service_status,
)
from bulletin.pipeline.step import DigestResult, Step, StepReport, run_step
from bulletin.pipeline.subscribers import (
    ImportReport,
    MailingList,
    SubscriberRecord,
    Unsubscribed,
    Unsubscriber,
    check_categories,
    export_csv,
    import_csv,
    mailing_list,
    unsubscribe,
)
from bulletin.pipeline.websub import Ping, notify_hub
from bulletin.store import STATUSES, Busy

__all__ = [
    "RUN_LOCK",
    "SERVE_LOCK",
    "STATUSES",
    "Answer",
    "Busy",
    "Choice",
    "Clock",
    "CollectReport",
    "DayStatus",
    "DigestResult",
    "Digests",
    "DryRunView",
    "FeedFile",
    "Feedback",
    "FeedsReport",
    "Handled",
    "ImportReport",
    "IngestReport",
    "ItemView",
    "MailingList",
    "Monitor",
    "Node",
    "Pages",
    "Ping",
    "Preferences",
    "Preview",
    "Reader",
    "Rules",
    "RunContext",
    "RunLog",
    "SendReport",
    "ServiceStatus",
    "SignupDesk",
    "SignupForm",
    "SourceRow",
    "Step",
    "StepReport",
    "Stop",
    "SubscriberRecord",
    "Unsubscribed",
    "Unsubscriber",
    "Variants",
    "all_sent",
    "check_categories",
    "collect",
    "collect_sources",
    "count_refusals",
    "day_status",
    "export_csv",
    "feed_categories",
    "feedback",
    "import_csv",
    "ingest_bounces",
    "looks_like_url",
    "mailing_list",
    "notify_hub",
    "preview_digest",
    "preview_message",
    "publish_feeds",
    "published_days",
    "read_feeds",
    "read_sources",
    "rebuild_feeds",
    "reset_source",
    "run_step",
    "runner_store",
    "send_day",
    "send_rows",
    "serve_lock",
    "service_status",
    "source_rows",
    "store_lock",
    "system_clock",
    "unsubscribe",
    "unsubscribe_links",
    "unsubscribe_url",
    "upgrade_store",
]
