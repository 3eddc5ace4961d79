"""Signed checkpoints of the log: the C2SP `tlog-checkpoint` text signed as a C2SP `signed-note` with Ed25519.

A checkpoint says "the log named <origin> held <size> events, and the Merkle root over them was <root>":

    <origin>\\n
    <tree size, decimal>\\n
    <root hash, standard base64>\\n

A signed note is that text, an empty line, and one line per signature, `— <key name> <base64(key id ||
signature)>`, where the signature is Ed25519 over the text's bytes and the key id is the first 4 bytes of
SHA-256(key name || 0x0A || 0x01 || public key). Keys are written as Go's golang.org/x/mod/sumdb/note writes
them, so the tools of that ecosystem read them too:

    verifier key    <name>+<key id, 8 hex digits>+<base64(0x01 || 32-byte public key)>
    signer key      PRIVATE+KEY+<name>+<key id, 8 hex digits>+<base64(0x01 || 32-byte private seed)>
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from jobstore.domain.errors import JobStoreError

ED25519 = b"\x01"
SIGNATURE_PREFIX = "— "  # an em dash and a space
_PRIVATE_PREFIX = "PRIVATE+KEY+"


class NoteRefused(JobStoreError):
    """A key, note or checkpoint that is malformed, or a note that the key did not sign."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteRefused(f"{what} is not standard base64") from None


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name) or not name.isprintable():
        raise NoteRefused(f"key name {name!r} must be non-empty, without spaces or '+'")


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def __str__(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{_b64(ED25519 + self.public_key)}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """A verifier key as `<name>+<key id>+<base64 key>`."""
        name, _, rest = text.strip().partition("+")
        hex_id, _, encoded = rest.partition("+")
        _check_name(name)
        key = _unb64(encoded, "the verifier key")
        if len(hex_id) != 8 or len(key) != 33 or key[:1] != ED25519:
            raise NoteRefused("a verifier key is <name>+<8 hex digits>+<base64 of 0x01 and a 32-byte Ed25519 key>")
        verifier = cls(name, key[1:])
        if verifier.key_id.hex() != hex_id.lower():
            raise NoteRefused(f"the verifier key's id {hex_id} does not match its name and key")
        return verifier

    def verifies(self, text: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    name: str
    seed: bytes

    @classmethod
    def generate(cls, name: str) -> Signer:
        _check_name(name)
        return cls(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def parse(cls, text: str) -> Signer:
        """A signer key as `PRIVATE+KEY+<name>+<key id>+<base64 seed>`."""
        if not text.startswith(_PRIVATE_PREFIX):
            raise NoteRefused(f"a signer key begins with {_PRIVATE_PREFIX}")
        name, _, rest = text.strip()[len(_PRIVATE_PREFIX):].partition("+")
        hex_id, _, encoded = rest.partition("+")
        _check_name(name)
        seed = _unb64(encoded, "the signer key")
        if len(hex_id) != 8 or len(seed) != 33 or seed[:1] != ED25519:
            raise NoteRefused("a signer key is PRIVATE+KEY+<name>+<8 hex digits>+<base64 of 0x01 and a 32-byte "
                              "Ed25519 seed>")
        signer = cls(name, seed[1:])
        if signer.verifier.key_id.hex() != hex_id.lower():
            raise NoteRefused(f"the signer key's id {hex_id} does not match its name and key")
        return signer

    def __str__(self) -> str:
        return f"{_PRIVATE_PREFIX}{self.name}+{self.verifier.key_id.hex()}+{_b64(ED25519 + self.seed)}"

    @property
    def verifier(self) -> Verifier:
        public = Ed25519PrivateKey.from_private_bytes(self.seed).public_key()
        return Verifier(self.name, public.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, text: str) -> str:
        """The signed note: `text` (which ends with a newline), an empty line, this key's signature line."""
        _check_text(text)
        signature = Ed25519PrivateKey.from_private_bytes(self.seed).sign(text.encode())
        return f"{text}\n{SIGNATURE_PREFIX}{self.name} {_b64(self.verifier.key_id + signature)}\n"


def _check_text(text: str) -> None:
    if not text.endswith("\n") or any(c < " " and c != "\n" for c in text):
        raise NoteRefused("a note's text ends with a newline and holds no control characters but newlines")


def open_note(note: str, verifier: Verifier) -> str:
    """The text of a signed note that `verifier`'s key signed; NoteRefused when it did not (or the note is
    malformed). Signatures by other keys are ignored."""
    text, separator, signatures = note.rpartition("\n\n")
    if not separator or not signatures.endswith("\n"):
        raise NoteRefused("a signed note is its text, an empty line, and signature lines each ending in a newline")
    text += "\n"
    _check_text(text)
    signed_by_other_keys = []
    for line in signatures[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteRefused(f"signature line {line[:60]!r} does not begin with {SIGNATURE_PREFIX!r}")
        name, _, encoded = line[len(SIGNATURE_PREFIX):].rpartition(" ")
        blob = _unb64(encoded, f"the signature of {name!r}")
        if len(blob) < 5:
            raise NoteRefused(f"the signature of {name!r} is too short")
        if name != verifier.name or blob[:4] != verifier.key_id:
            signed_by_other_keys.append(name)
            continue
        if not verifier.verifies(text.encode(), blob[4:]):
            raise NoteRefused(f"the signature of {name!r} does not match the note: the note was altered, or "
                              "signed by another key of that name")
        return text
    raise NoteRefused(f"the note carries no signature by key {verifier.name}+{verifier.key_id.hex()}"
                      + (f" (it is signed by {', '.join(signed_by_other_keys)})" if signed_by_other_keys else ""))


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{_b64(self.root)}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or not lines[0]:
            raise NoteRefused("a checkpoint is an origin line, a tree size line and a root hash line")
        origin, size, root = lines[0], lines[1], lines[2]
        if not size.isascii() or not size.isdigit() or (size != "0" and size.startswith("0")):
            raise NoteRefused(f"the checkpoint's tree size {size[:30]!r} is not a decimal number")
        decoded = _unb64(root, "the checkpoint's root hash")
        if len(decoded) != 32:
            raise NoteRefused("the checkpoint's root hash is not 32 bytes")
        return cls(origin, int(size), decoded)
