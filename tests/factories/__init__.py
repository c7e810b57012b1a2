"""Plain factory functions, one module per domain."""
