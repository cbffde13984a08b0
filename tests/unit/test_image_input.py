import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaError
from domain.receipts.image_input import check_mime_type, decode_base64_image


@given(st.binary(min_size=1, max_size=2000))
def test_standard_and_urlsafe_base64_round_trip(data: bytes) -> None:
    assert decode_base64_image(base64.b64encode(data).decode(), 4096) == data
    assert decode_base64_image(base64.urlsafe_b64encode(data).decode().rstrip("="), 4096) == data


@pytest.mark.parametrize("text", ["", "   ", "not base64 at all!", "data:image/png;base64,AAAA", "AAA*"])
def test_invalid_base64_is_a_bad_request(text: str) -> None:
    with pytest.raises(InvalidInputError):
        decode_base64_image(text, 1000)


def test_oversized_image_is_refused_before_decoding() -> None:
    with pytest.raises(PayloadTooLargeError):
        decode_base64_image("A" * 10_000, 1000)
    with pytest.raises(PayloadTooLargeError):
        decode_base64_image(base64.b64encode(b"x" * 1001).decode(), 1000)


def test_mime_types() -> None:
    assert check_mime_type("image/JPG") == "image/jpeg"
    assert check_mime_type(" image/png ") == "image/png"
    for bad in ("application/pdf", "text/plain", "image/svg+xml"):
        with pytest.raises(UnsupportedMediaError):
            check_mime_type(bad)
