"""Operational alerts (a source failing run after run) mailed to the ``ops`` addresses of alerts.yaml."""

from __future__ import annotations

import logging
from pathlib import Path

from crawler.alerting.mailer import Mailer
from crawler.alerting.render import render_ops
from crawler.alerting.rules import AlertsConfig, default_alerts_path, load_alerts_config

log = logging.getLogger(__name__)


def send_ops_alert(
    subject: str,
    body: str,
    *,
    config: AlertsConfig | None = None,
    config_path: Path | str | None = None,
    mailer: Mailer | None = None,
) -> bool:
    """Mail ``subject``/``body`` to the ``ops`` addresses; True when the server accepted it for someone.

    False (logged) when no ops address is configured. Raises MailConfigError without an SMTP URL,
    MailTransportError when the server cannot take it now (the caller tries again later), and
    ConfigError for an invalid alerts.yaml.
    """
    if config is None:
        path = Path(config_path) if config_path else default_alerts_path()
        config = load_alerts_config(path) if path.exists() else AlertsConfig()
    if not config.ops:
        log.error("ops alert not sent: no 'ops' address in alerts.yaml: %s", subject)
        return False
    mailer = mailer or Mailer.from_env(sender=config.sender)
    message = render_ops(subject, body, sender=config.sender, recipients=list(config.ops))
    result = mailer.send(message, list(config.ops))
    for address, reply in {**result.temporary, **result.permanent}.items():
        log.error("ops alert %r refused for %s: %s", subject, address, reply)
    if result.accepted:
        log.info("ops alert sent to %s: %s", ", ".join(result.accepted), subject)
    return bool(result.accepted)
