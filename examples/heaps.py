# What a token fetch costs in RAM on a board: the GC heap, and on an ESP32 the ESP-IDF heap
# that mbedTLS allocates from (outside the GC heap; the unix port takes it from the C heap and
# has no esp32 module). MicroPython only.
#   mpremote run examples/heaps.py            (on a board: set BASE and CA below first)
#   tools/mp examples/heaps.py [BASE_URL [CA_FILE]]
import gc
import sys

import micropython

try:
    import esp32
except ImportError:
    esp32 = None

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
CA = sys.argv[2] if len(sys.argv) > 2 else None  # "ca.der" on a board, for https


def heaps(label):
    gc.collect()
    line = "%s: gc free %d, gc used %d" % (label, gc.mem_free(), gc.mem_alloc())
    if esp32:
        # each IDF region: (total, free, largest free block, lowest free ever)
        idf = esp32.idf_heap_info(esp32.HEAP_DATA)
        line += ", idf free %d, idf largest %d, idf low-water %d" % (
            sum(h[1] for h in idf), max(h[2] for h in idf), sum(h[3] for h in idf))
    print(line)


heaps("boot")
from oauthcc import TokenClient  # noqa: E402  (after "boot": the import is measured)

heaps("import")
c = TokenClient(BASE + "/oauth/token", "device-1", "s3cret", "read", ca=CA)
c.request("GET", BASE + "/api/v1/resource").json()
heaps("cycle")
micropython.mem_info()  # the GC heap's largest free block ("max free sz", in 16-byte blocks)
