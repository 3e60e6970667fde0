# The asyncio client: a sensor task keeps running while the token is fetched.
#   tools/mp examples/asyncio_client.py [BASE_URL [CA_FILE]]
#   PYTHONPATH=device python3 examples/asyncio_client.py [BASE_URL [CA_FILE]]
# BASE_URL defaults to the stub server: python3 tools/stub_server.py --profile generic --port 8000
import asyncio
import sys

import oauthcc
from oauthcc import aio

base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
ca = sys.argv[2] if len(sys.argv) > 2 else None

client = aio.AsyncTokenClient(base + "/oauth/token", "device-1", "s3cret", "read", ca=ca)


async def sensor(readings):
    while True:
        readings.append(len(readings))  # read a sensor here
        await asyncio.sleep(0.05)


async def api(calls):
    for _ in range(calls):
        try:
            r = await client.request("GET", base + "/api/v1/things")
            print("API:", r.status, r.json())
            wait = 0.5
        except (oauthcc.OAuthError, OSError) as e:
            wait = max(client.next_attempt_in_ms(), 1000) / 1000  # never None
            print("failed:", e)
        client.close()  # before sleeping: the kept connection is a socket the board lacks
        await asyncio.sleep(wait)


async def main():
    readings = []
    task = asyncio.create_task(sensor(readings))
    await api(2)
    task.cancel()
    print("sensor readings meanwhile:", len(readings))


asyncio.run(main())
