"""Database backends of Ficha (see sqlite/)."""
