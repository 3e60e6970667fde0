# The library's clock, public: the default `clock=` of a client, and what an application
# needs of it. ticks_ms/ticks_add/ticks_diff wrap as on the ESP32 (on CPython too);
# unix_time() is the wall clock in Unix seconds, None while unset; EPOCH_OFFSET: seconds from
# 1970 to the port's epoch; DAY_MS: no ticks deadline further ahead. And const(), which
# CPython lacks. The library itself imports _port: a fetch never loads this module.
from ._port import DAY_MS, EPOCH_OFFSET, const, ticks_add, ticks_diff, ticks_ms, unix_time  # noqa: F401
