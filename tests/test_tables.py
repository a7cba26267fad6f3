"""UTCDateTime: aware datetimes in, aware UTC datetimes out, the same text as SQLAlchemy's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql, sqlite

from reactor.storage.tables import UTCDateTime

SQLITE = sqlite.dialect()
ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=11)), timezone(timedelta(hours=-9, minutes=-30))]
)
MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2999, 12, 30), timezones=ZONES
)


def _sqlalchemy_bind(value: datetime) -> str:
    """What SQLAlchemy's own two steps store: our UTC conversion, then its DateTime text."""
    naive = UTCDateTime().process_bind_param(value, SQLITE)
    process = DateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert process is not None
    return str(process(naive))


def _sqlalchemy_result(text: str) -> datetime | None:
    process = DateTime().dialect_impl(SQLITE).result_processor(SQLITE, None)
    assert process is not None
    return UTCDateTime().process_result_value(process(text), SQLITE)


@given(MOMENTS)
def test_sqlite_text_is_what_sqlalchemy_would_store_and_reads_back_the_same_instant(
    moment: datetime,
) -> None:
    """The one-step SQLite conversion writes SQLAlchemy's text and reads its instant back."""
    bind = UTCDateTime().bind_processor(SQLITE)
    result = UTCDateTime().result_processor(SQLITE, None)
    assert bind is not None and result is not None
    text = bind(moment)
    assert text == _sqlalchemy_bind(moment)
    assert result(text) == _sqlalchemy_result(str(text)) == moment
    assert result(text).tzinfo is UTC


def test_none_stays_none_on_sqlite() -> None:
    """NULL in, NULL out."""
    bind = UTCDateTime().bind_processor(SQLITE)
    result = UTCDateTime().result_processor(SQLITE, None)
    assert bind is not None and result is not None
    assert bind(None) is None
    assert result(None) is None


@pytest.mark.parametrize(
    "value",
    [datetime(2026, 11, 22, 9, 0), "2026-11-22T09:00:00Z", 1763802000],
    ids=["naive", "text", "number"],
)
def test_anything_but_an_aware_datetime_is_refused(value: object) -> None:
    """A naive time would be stored in an unknown zone: refused before it reaches the driver."""
    bind = UTCDateTime().bind_processor(SQLITE)
    assert bind is not None
    with pytest.raises(ValueError, match="expected an aware datetime"):
        bind(value)


def test_postgres_keeps_sqlalchemys_own_processing() -> None:
    """Only SQLite gets the one-step conversion; Postgres stores aware datetimes natively."""
    dialect = postgresql.dialect()
    assert UTCDateTime().bind_processor(dialect) is not None  # our UTC check still runs
    moment = datetime(2026, 11, 22, 9, 0, tzinfo=timezone(timedelta(hours=11)))
    assert UTCDateTime().process_bind_param(moment, dialect) == moment
