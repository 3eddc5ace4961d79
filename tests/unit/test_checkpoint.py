"""Signed notes and checkpoints (domain.checkpoint), against the reference implementation's published example:
the PeterNeumann key pair and note of golang.org/x/mod/sumdb/note (note_test.go and the package documentation).
Ed25519 signatures are deterministic (RFC 8032), so signing that text with that key must give that note byte
for byte."""
from __future__ import annotations

import pytest

from jobstore.domain.checkpoint import Checkpoint, NoteRefused, Signer, Verifier, open_note

VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
NOTE = (TEXT + "\n— PeterNeumann "
        "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")


def test_the_published_keys_read_and_write_back_as_they_were() -> None:
    signer = Signer.parse(SIGNER_KEY)
    assert str(signer) == SIGNER_KEY
    assert str(signer.verifier) == VERIFIER_KEY
    assert str(Verifier.parse(VERIFIER_KEY)) == VERIFIER_KEY


def test_signing_the_published_text_gives_the_published_note() -> None:
    assert Signer.parse(SIGNER_KEY).sign(TEXT) == NOTE


def test_the_published_note_opens_with_the_published_key() -> None:
    assert open_note(NOTE, Verifier.parse(VERIFIER_KEY)) == TEXT


@pytest.mark.parametrize("note", [NOTE.replace("cryptography", "cryptographY"), NOTE.replace("x08go", "x08gO"),
                                  NOTE.replace("\n\n", "\n"), NOTE[:-1], TEXT])
def test_an_altered_note_is_refused(note: str) -> None:
    with pytest.raises(NoteRefused):
        open_note(note, Verifier.parse(VERIFIER_KEY))


def test_a_note_signed_by_another_key_is_refused_and_the_refusal_names_the_signer() -> None:
    other = Signer.generate("PeterNeumann")  # the same name, another key
    with pytest.raises(NoteRefused, match="no signature by key PeterNeumann"):
        open_note(other.sign(TEXT), Verifier.parse(VERIFIER_KEY))
    with pytest.raises(NoteRefused, match="signed by someone-else"):
        open_note(Signer.generate("someone-else").sign(TEXT), Verifier.parse(VERIFIER_KEY))


def test_a_note_with_several_signatures_opens_with_any_of_their_keys() -> None:
    mine, theirs = Signer.generate("log.example/a"), Signer.generate("witness.example")
    note = mine.sign(TEXT)
    cosigned = note + theirs.sign(TEXT).split("\n\n")[-1]
    assert open_note(cosigned, mine.verifier) == TEXT
    assert open_note(cosigned, theirs.verifier) == TEXT


@pytest.mark.parametrize("key", [VERIFIER_KEY.replace("c74f20a3", "c74f20a4"), VERIFIER_KEY[:-2],
                                 "PeterNeumann+c74f20a3", "Peter Neumann+c74f20a3+ARpc2Qc", "+c74f20a3+AR",
                                 VERIFIER_KEY.replace("+AR", "+AS")])
def test_malformed_verifier_keys_are_refused(key: str) -> None:
    with pytest.raises(NoteRefused):
        Verifier.parse(key)


def test_a_checkpoint_reads_back_what_it_says() -> None:
    checkpoint = Checkpoint("jobstore.example/log", 1234, bytes(range(32)))
    assert checkpoint.text() == "jobstore.example/log\n1234\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    assert Checkpoint.parse(checkpoint.text()) == checkpoint


@pytest.mark.parametrize("text", ["log\n12x\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
                                  "log\n012\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
                                  "log\n12\nAAECAw==\n", "\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
                                  "log\n12\n"])
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(NoteRefused):
        Checkpoint.parse(text)
