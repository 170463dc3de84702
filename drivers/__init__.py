"""Hardware drivers: bytes on the wire to typed readings.  Knows nothing of quotas, Flask or the ledger."""
