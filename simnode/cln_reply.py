"""What the CLN dispatcher answers: a result, an error, or a wait the server must finish."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RawJson:
    """A result serialised already (listchannels of the whole graph is tens of MB: built once, spliced)."""

    data: bytes

    def decode(self) -> Any:
        return json.loads(self.data)


@dataclass(frozen=True)
class InvoiceWait:
    """waitanyinvoice found nothing paid after `lastpay_index` yet: the server polls until one is
    paid or `timeout` real seconds pass (None = no limit), as lightningd keeps the call open."""

    lastpay_index: int
    timeout: float | None


@dataclass
class ClnReply:
    result: Any = None  # dict, or RawJson
    error: dict | None = None  # {"code": int, "message": str[, "data": ...]}
    wait: InvoiceWait | None = None

    def json(self) -> dict:
        """The JSON-RPC body without the envelope: {"result": ...} or {"error": ...}."""
        if self.error is not None:
            return {"error": self.error}
        result = self.result.decode() if isinstance(self.result, RawJson) else self.result
        return {"result": result}

    def encode_result(self) -> bytes:
        if isinstance(self.result, RawJson):
            return self.result.data
        return json.dumps(self.result, separators=(",", ":")).encode()
