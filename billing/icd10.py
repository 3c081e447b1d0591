"""ICD-10-CM validity and billability from the offline code set, fast.

``simple_icd_10_cm`` ships the CMS code list and builds a full classification tree from
a 10 MB XML file on first use (seconds). The scrubber only asks two questions (does the
code exist, is it a leaf), which the shipped code list answers directly: a code is
billable when no longer code extends it. A test checks this against the library's own
``is_valid_item`` / ``is_leaf``.
"""

from __future__ import annotations

from bisect import bisect_left
from functools import cache
from importlib.util import find_spec
from pathlib import Path


@cache
def _index() -> tuple[frozenset[str], frozenset[str]]:
    # Locate the package's data without importing it: importing builds the whole tree.
    spec = find_spec("simple_icd_10_cm")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("simple-icd-10-cm is not installed")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    path = next(data.glob("code-list*.txt"))
    codes = set()
    for line in path.read_text(encoding="utf-8").split("\n"):
        code = line.split(" ")[0].strip().replace(".", "")
        if code and "-" not in code and code[0].isalpha():
            codes.add(code)
    parents = {code[:k] for code in codes for k in range(3, len(code))}
    return frozenset(codes), frozenset(parents & codes)


def icd10_exists(code: str) -> bool:
    return code in _index()[0]


def icd10_billable(code: str) -> bool:
    codes, parents = _index()
    return code in codes and code not in parents


@cache
def _billable_sorted() -> tuple[str, ...]:
    codes, parents = _index()
    return tuple(sorted(codes - parents))


def icd10_dotted(code: str) -> str:
    """K0252 -> K02.52, as billers read and type codes."""
    return f"{code[:3]}.{code[3:]}" if len(code) > 3 else code


def icd10_billable_under(code: str, *, limit: int = 5) -> list[str]:
    """Billable codes (dotted, in code order) under ``code``, or under the longest part of
    it that has any: what to suggest for a category, a mistyped code or a rule's prefix.
    Empty when nothing in its chapter letter and first digit matches."""
    code = code.replace(".", "").strip().upper()
    billable = _billable_sorted()
    for length in range(len(code), 1, -1):
        prefix = code[:length]
        start = bisect_left(billable, prefix)
        found: list[str] = []
        for candidate in billable[start:]:
            if not candidate.startswith(prefix) or len(found) == limit:
                break
            found.append(icd10_dotted(candidate))
        if found:
            return found
    return []
