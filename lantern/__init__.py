"""What every part of Lantern shares: the event contract, settings, and the ``lantern`` CLI."""
