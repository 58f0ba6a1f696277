"""Alert rules as analysts write them in ``config/alerts.yaml``: pydantic models, loading and the JSON schema."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from crawler.common.durations import duration_schema, format_duration, parse_duration
from crawler.config.loader import ConfigError, ConfigIssue, load_yaml_model
from crawler.paths import CONFIG_DIR

_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$|^[^@\s<>,;\"]+@localhost$")
NAMED_PERIODS = {"hourly": dt.timedelta(hours=1), "daily": dt.timedelta(days=1), "weekly": dt.timedelta(weeks=1)}
_COUNTRY = re.compile(r"^([A-Z]{2}|EU|WORLDWIDE)$")


Duration = Annotated[
    dt.timedelta,
    BeforeValidator(parse_duration),  # the shared grammar (crawler.common.durations); zero is refused here
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(duration_schema()),
]

def parse_period(value: Any) -> dt.timedelta:
    """A digest period: ``hourly``, ``daily``, ``weekly`` or a duration (``6h``, ``2d``)."""
    if isinstance(value, str) and value.strip().lower() in NAMED_PERIODS:
        return NAMED_PERIODS[value.strip().lower()]
    try:
        return parse_duration(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a digest period: use hourly, daily, weekly or a duration like 6h") from None


Period = Annotated[
    dt.timedelta,
    BeforeValidator(parse_period),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"enum": list(NAMED_PERIODS)},
                *duration_schema()["anyOf"],
            ],
        }
    ),
]

RuleEvent = Literal["new", "price_change", "changed", "relisting", "new_vendor_platform"]
"""What a rule counts: a new listing, a price change, another change (text/stock), a relisting, or a
vendor showing up on a platform for the first time."""

# rule event name -> ListingEvent.kind it stands for (new_vendor_platform is a flag, not a kind)
EVENT_KINDS: dict[str, str] = {
    "new": "new",
    "price_change": "price_change",
    "changed": "changed",
    "relisting": "relisted",
}


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value


StrList = Annotated[list[str], BeforeValidator(_as_list)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """What a listing must look like to match, in analyst terms. Lists mean "any of"; fields combine with AND."""

    substance_classes: StrList = Field(
        default_factory=list, description="Substance classes, e.g. fentanyl, opioid, precursor."
    )
    substances: StrList = Field(
        default_factory=list,
        description="Canonical substance names, e.g. carfentanil, 4-ANPP. Combined with substance_classes by OR.",
    )
    ships_from: StrList = Field(default_factory=list, description="ISO 3166-1 alpha-2 codes (or EU).")
    ships_to: StrList = Field(
        default_factory=list,
        description="ISO codes; a listing shipping WORLDWIDE (or to the EU, for member states) matches "
        "unless it excludes that country.",
    )
    platforms: StrList = Field(default_factory=list, description="Platform names.")
    sources: StrList = Field(default_factory=list, description="Configured source names.")
    min_risk: float | None = Field(default=None, ge=0.0, le=1.0, description="Minimum risk score, 0..1.")
    intent: Literal["sale", "other", "any"] = Field(
        default="sale", description="sale (default): offers only; any: also news and discussion."
    )
    query: str | None = Field(
        default=None, description="A free Lucene query string, as typed in Kibana's search bar (Lucene mode)."
    )

    @field_validator("substance_classes", "substances", "platforms", "sources")
    @classmethod
    def _strip(cls, values: list[str]) -> list[str]:
        out = [v.strip() for v in values if isinstance(v, str)]
        if any(not v for v in out):
            raise ValueError("empty name in list")
        return out

    @field_validator("substance_classes", "substances")
    @classmethod
    def _lower(cls, values: list[str]) -> list[str]:
        return [v.lower() for v in values]

    @field_validator("ships_from", "ships_to")
    @classmethod
    def _countries(cls, values: list[str]) -> list[str]:
        bad = [v for v in values if not _COUNTRY.match(v.strip().upper())]
        if bad:
            raise ValueError(
                f"not an ISO 3166-1 alpha-2 code, EU or WORLDWIDE: {', '.join(bad)} (write e.g. CN, US, NL)"
            )
        return [v.strip().upper() for v in values]

    @field_validator("query")
    @classmethod
    def _query(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        return value


class Throttle(_Strict):
    """At most ``max`` mails for this rule in any window of ``per``; the rest wait and are sent later."""

    max: int = Field(ge=1, description="Most mails in one window.")
    per: Duration = Field(description="Window length, e.g. 1h.")


class Rule(_Strict):
    """One alert rule."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", description="Unique rule name.")
    description: str | None = None
    enabled: bool = True
    condition: Condition = Field(default_factory=Condition)
    recipients: StrList = Field(min_length=1, description="Email addresses.")
    mode: Literal["immediate", "digest"] = "immediate"
    period: Period | None = Field(
        default=None,
        description="Digest interval (digest mode): hourly, daily, weekly or a duration such as 6h. Default daily.",
    )
    throttle: Throttle | None = None
    events: list[RuleEvent] = Field(default_factory=lambda: list[RuleEvent](["new"]), min_length=1)

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, values: list[str]) -> list[str]:
        out = [v.strip() for v in values]
        bad = [v for v in out if not _EMAIL.match(v)]
        if bad:
            raise ValueError(f"not an email address: {', '.join(bad)}")
        return out

    @field_validator("events")
    @classmethod
    def _unique_events(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))

    @model_validator(mode="after")
    def _digest_period(self) -> Rule:
        if self.mode == "digest" and self.period is None:
            object.__setattr__(self, "period", dt.timedelta(days=1))
        if self.mode == "immediate" and self.period is not None:
            raise ValueError("period is only used with mode: digest")
        return self

    @property
    def version(self) -> str:
        """Hash of the rule's configuration: changes whenever anything in the rule changes."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def counts(self, kind: str, vendor_new_platform: bool = False) -> bool:
        """Whether a ListingEvent of this ``kind`` (and vendor flag) is one this rule alerts on."""
        if kind == "unchanged":
            return False
        if any(EVENT_KINDS.get(e) == kind for e in self.events):
            return True
        return vendor_new_platform and "new_vendor_platform" in self.events


class Delivery(_Strict):
    """How failed mails are retried."""

    retry_base: Duration = Field(default="30s", validate_default=True, description="First retry delay.")
    retry_max: Duration = Field(default="1h", validate_default=True, description="Longest retry delay.")
    max_attempts: int = Field(default=50, ge=1, description="Give up (state failed) after this many tries.")
    lease: Duration = Field(
        default="5m",
        validate_default=True,
        description="How long a deliverer holds an alert it sends; a crashed one's alerts are taken over after it.",
    )


class AlertsConfig(_Strict):
    """The whole ``alerts.yaml``."""

    rules: list[Rule] = Field(default_factory=list)
    ops: StrList = Field(default_factory=list, description="Addresses for operational alerts (scheduler).")
    sender: str = Field(default="narcowatch@localhost", description="From address of every mail.")
    kibana_url: str | None = Field(default=None, description="Kibana base URL for links in mails.")
    kibana_data_view: str = Field(default="narcowatch-listings", description="Listings data view id in Kibana.")
    delivery: Delivery = Field(default_factory=Delivery)

    @field_validator("ops")
    @classmethod
    def _ops(cls, values: list[str]) -> list[str]:
        return Rule._recipients(values)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not _EMAIL.match(value.strip()):
            raise ValueError(f"not an email address: {value}")
        return value.strip()

    @field_validator("kibana_url")
    @classmethod
    def _kibana(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.match(r"^https?://", value):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.name in seen:
                raise ValueError(f"rule name {rule.name!r} is used twice")
            seen.add(rule.name)
        return rules

    def rule(self, name: str) -> Rule:
        """The rule called ``name``; KeyError listing the known names otherwise."""
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(f"no alert rule named {name!r}; known: {', '.join(r.name for r in self.rules) or 'none'}")

    @property
    def active_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled]

    def digest_periods(self) -> list[dt.timedelta]:
        """The distinct periods of enabled digest rules: the scheduler runs ``send-digest --period <period>``
        every period (the period written as ``format_duration`` does: 1h, 1d, 1w)."""
        return sorted({r.period for r in self.active_rules if r.mode == "digest" and r.period})


def default_alerts_path() -> Path:
    """``NARCOWATCH_ALERTS_FILE``, else ``alerts.yaml`` in ``NARCOWATCH_CONFIG`` (a directory, or beside the
    file it names), else ``config/alerts.yaml``."""
    explicit = os.environ.get("NARCOWATCH_ALERTS_FILE")
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("NARCOWATCH_CONFIG")
    if env:
        path = Path(env).expanduser()
        if path.is_dir():
            return path / "alerts.yaml"
        if path.name.startswith("alerts") and path.suffix in (".yaml", ".yml"):
            return path
        return path.parent / "alerts.yaml"
    return CONFIG_DIR / "alerts.yaml"


def load_alerts_config(path: Path | str | None = None) -> AlertsConfig:
    """Load and validate ``alerts.yaml``; raises ConfigError with ``file:line: field: message`` issues."""
    path = Path(path) if path is not None else default_alerts_path()
    if path.is_dir():
        path = path / "alerts.yaml"
    if not path.exists():
        raise ConfigError([ConfigIssue(str(path), None, "", "alerts configuration file not found")])
    return load_yaml_model(path, AlertsConfig)


def alerts_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``alerts.yaml`` (published as config/schema/alerts.schema.json)."""
    schema = AlertsConfig.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "narcowatch alerts.yaml"
    return schema
