"""Request body parsers for /api/v1/ (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"])."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from config.inputs import JsonRejected, load_json


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with a nesting bound: a few kilobytes of ``[[[[…`` exhaust
    Python's recursion limit inside ``json.loads`` (a 500), and no request body of
    ours nests more than a few levels. NaN and Infinity are refused, as in DRF."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            return load_json(stream.read() if stream is not None else b"")
        except JsonRejected as exc:
            raise ParseError(str(exc)) from None
