"""The API's camelCase renderer gives exactly what djangorestframework_camel_case gives, faster."""

import datetime
import decimal
import uuid

from django.utils.translation import gettext_lazy
from djangorestframework_camel_case.util import camelize as library_camelize
from rest_framework.utils.serializer_helpers import ReturnDict

from livestream_site.renderers import CamelCaseJSONRenderer, camelize


def test_camelize_matches_the_library_on_every_kind_of_value():
    returned = ReturnDict({"stream_id": 1, "peak_viewers": 2}, serializer="the serializer")
    data = {
        "results": [returned, {"user_2fa": True, "a_b_c": None, "_private": "x", "trailing_": 1}],
        "stream_settings": {"video_bit_rate": 2500, "nested_list": [{"inner_key": (1, 2)}, "plain_str"]},
        gettext_lazy("lazy_key"): gettext_lazy("lazy value"),
        "when_at": datetime.datetime(2026, 1, 1, 12, 0),
        "on_day": datetime.date(2026, 1, 1),
        "price_amount": decimal.Decimal("9.99"),
        "some_id": uuid.UUID(int=1),
        "raw_bytes": b"ab",
        "a_set": frozenset({"x_y"}),
        7: "int key",
        "float_v": 1.5,
    }
    ours, theirs = camelize(data), library_camelize(data)
    assert ours == theirs
    assert list(ours) == list(theirs)  # the same key order
    assert isinstance(ours["results"][0], ReturnDict) and ours["results"][0].serializer == "the serializer"
    assert ours["streamSettings"]["nestedList"][0] == {"innerKey": [1, 2]}


def test_the_renderer_writes_camel_case_json_with_the_fast_camelize(monkeypatch):
    def library_path(*args, **kwargs):
        raise AssertionError("the library's camelize ran")

    # The library's default options (all unset) must not send rendering down the library's slow path.
    monkeypatch.setattr("djangorestframework_camel_case.render.camelize", library_path)
    body = CamelCaseJSONRenderer().render({"page_size": 50, "results": [{"peak_viewers": 3}]})
    assert body == b'{"pageSize":50,"results":[{"peakViewers":3}]}'
