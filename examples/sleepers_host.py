"""Host imports for sleepers.c: `asyncpy run sleepers.wasm --host sleepers_host.py`."""

import asyncio


async def fetch(key: int) -> int:
    await asyncio.sleep(0.15)       # the network, say
    return key * 1000


IMPORTS = {"env": {"fetch": fetch}}
