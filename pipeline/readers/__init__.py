"""One reader per log source: raw bytes to typed Polars frames plus rejects (see ``_base`` for the contract)."""
