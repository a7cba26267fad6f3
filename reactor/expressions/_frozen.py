"""Frozen, read-only data for expressions: mappings become Records, lists become tuples."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

_SCALARS = frozenset({str, int, float, bool, type(None)})

RECORD_WEIGHT = 10
"""What one Record adds to ``weight``: comparing or hashing it runs Python code, ~150 ns."""


class Record:
    """A read-only mapping where ``r.key`` and ``r["key"]`` both give the value, or None.

    It has no public methods or attributes of its own, so every attribute name is a field:
    ``event.items`` is the field "items", never a dict method.
    """

    __slots__ = ("_data", "_hash", "_list_weights", "_weight")
    _data: dict[str, Any]
    _hash: int | None
    _weight: int
    _list_weights: dict[str, int]

    def __init__(self, data: Mapping[str, Any]) -> None:
        frozen: dict[str, Any] = {}
        lists: dict[str, int] = {}
        total = RECORD_WEIGHT + len(data)
        for key, value in data.items():
            if not isinstance(key, str):
                raise TypeError(f"Record keys must be str, not {type(key).__name__}")
            frozen[key] = item = freeze(value)
            if type(item) is tuple:
                # Weighed once here; walking a deep list again per read cost far more than
                # the work units it is charged (see list_weight).
                lists[key] = heavy = weight(item)
                total += heavy
            elif type(item) is not str:  # text in data is compared, not scanned: see weight
                total += weight(item)
        object.__setattr__(self, "_data", frozen)
        object.__setattr__(self, "_hash", None)
        object.__setattr__(self, "_weight", total)  # cached: a Record never changes
        object.__setattr__(self, "_list_weights", lists)

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not slots. Probes such as copy's __deepcopy__ or
        # pickle's __getstate__ must still fail, so underscore names are never fields here.
        if name.startswith("_"):
            raise AttributeError(name)
        return self._data.get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Record is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Record is read-only")

    def __getitem__(self, key: object) -> Any:
        return self._data.get(key) if isinstance(key, str) else None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Record):
            return self is other or self._data == other._data
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:  # cached, since hashing nested Records is deep
            object.__setattr__(self, "_hash", hash(frozenset(self._data.items())))
        assert self._hash is not None
        return self._hash

    def __repr__(self) -> str:
        return f"Record({self._data!r})"

    def __reduce__(self) -> tuple[type[Record], tuple[dict[str, Any]]]:
        # Lets copy, deepcopy and pickle rebuild a Record despite __setattr__ refusing.
        return (Record, (self._data,))


def pick(record: Record, keys: Iterable[str]) -> dict[str, Any]:
    """``{key: record[key]}`` for each of ``keys`` (None where missing), at dict speed."""
    get = record._data.get
    return {key: get(key) for key in keys}


def list_weight(record: Record, key: str) -> int | None:
    """The weight of the list ``record[key]``, as computed when the record was frozen."""
    return record._list_weights.get(key)


def freeze(value: Any) -> Any:
    """Deep-copy JSON-like data into read-only form: dict → Record, list/tuple → tuple.

    str, int, float, bool and None are kept; anything else (objects, callables, datetimes,
    sets, bytes) raises TypeError, because expressions must only ever see plain data.
    """
    kind = type(value)
    if kind in _SCALARS or kind is Record:
        return value
    if kind is list or kind is tuple:
        return tuple(freeze(item) for item in value)
    if isinstance(value, Mapping):
        return Record(value)
    raise TypeError(f"expressions take only JSON-like data, not {kind.__name__}")


def thaw(value: Any) -> Any:
    """The inverse of freeze, for storing or printing: Record → dict, tuple → list."""
    if type(value) is Record:
        return {key: thaw(value[key]) for key in value}
    if type(value) is tuple:
        return [thaw(item) for item in value]
    return value


def weight(value: Any) -> int:
    """Roughly how much work scanning, comparing or hashing frozen ``value`` can take.

    Characters of a text, items of a list (and what nested lists and Records weigh), entries of
    a Record plus RECORD_WEIGHT per Record. One unit is at most ~16 ns of CPU. Text nested in a
    list or Record counts as one item: comparing it is a memcmp, far cheaper than a scan.
    """
    kind = type(value)
    if kind is str:
        return len(value)
    if kind is Record:
        return int(value._weight)
    if kind is not tuple:
        return 0
    total = len(value)
    if _NESTED.isdisjoint(set(map(type, value))):  # the common case, counted at C speed
        return total
    for item in value:
        if type(item) in _NESTED:
            total += weight(item)
    return total


_NESTED = frozenset({tuple, Record})
