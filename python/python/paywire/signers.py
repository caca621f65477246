"""Adapters that let existing key holders pay through paywire."""

from __future__ import annotations

from typing import Any


class EthAccountSigner:
    """Signs with an eth-account ``LocalAccount`` (``Account.from_key(...)``), for code that already has one.

    paywire's own ``LocalSigner`` is faster; this adapter exists so keys managed by eth-account (keystores,
    mnemonics) can pay without being exported.
    """

    def __init__(self, account: Any) -> None:
        self._account = account

    @property
    def address(self) -> str:
        return str(self._account.address)

    def sign_digest(self, digest: bytes) -> bytes:
        # eth-account renamed signHash to unsafe_sign_hash (0.13); both sign the digest as is.
        sign = getattr(self._account, "unsafe_sign_hash", None) or self._account.signHash
        return bytes(sign(digest).signature)

    def __repr__(self) -> str:
        return f"EthAccountSigner(address={self.address})"
