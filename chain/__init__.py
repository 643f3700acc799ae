"""The chain: the Gen1 contract (``contracts/Gen1.sol``, compiled to ``artifacts/Gen1.json`` by
``build.mjs``), a local EVM node for development and tests (``anvil.py``), and what Lantern's
processes do with them (``gen1.py``: deploy, read, build the mint transaction, decode reverts).

Nothing here knows Kafka: the chain watcher that turns mints into job states is a stage of the
stream (``streams/chain.py``).
"""
