"""The API's JSON renderer: camelCase keys out, each key converted once per process (imported by DRF's settings)."""

import datetime
import decimal
import functools
import uuid
from collections import OrderedDict

from django.utils.encoding import force_str
from django.utils.functional import Promise
from djangorestframework_camel_case import render as camel_render
from djangorestframework_camel_case.util import camelize_re, is_iterable, underscore_to_camel
from rest_framework.utils.serializer_helpers import ReturnDict

# Values that are never containers: returned as they are without asking iter() (which raises for them).
_SCALARS = (str, int, float, bool, type(None), decimal.Decimal, datetime.date, datetime.time, uuid.UUID)


@functools.lru_cache(maxsize=4096)
def _camel_key(key: str) -> str:
    return camelize_re.sub(underscore_to_camel, key) if "_" in key else key


def camelize(data):
    """djangorestframework_camel_case's `camelize` (without options), with each key converted once per process.

    The library runs a regex on every key of every object and asks iter() of every value; on a page of
    50 streams that was a quarter of the request. Same output, held to it by a test.
    """
    if isinstance(data, _SCALARS):
        return data
    if isinstance(data, Promise):
        return force_str(data)
    if isinstance(data, dict):
        camel = ReturnDict(serializer=data.serializer) if isinstance(data, ReturnDict) else OrderedDict()
        for key, value in data.items():
            if isinstance(key, Promise):
                key = force_str(key)
            camel[_camel_key(key) if isinstance(key, str) else key] = camelize(value)
        return camel
    if is_iterable(data):
        return [camelize(item) for item in data]
    return data


class CamelCaseJSONRenderer(camel_render.CamelCaseJSONRenderer):
    """The API's JSON renderer: snake_case keys out as camelCase (the library's, with `camelize` above)."""

    def render(self, data, *args, **kwargs):
        # The library's options (a dict that is never empty): any one set takes the library's own path.
        if any(self.json_underscoreize.values()):
            return super().render(data, *args, **kwargs)
        return super(camel_render.CamelCaseJSONRenderer, self).render(camelize(data), *args, **kwargs)
