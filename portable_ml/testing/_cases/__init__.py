"""Registry cases, one module per family; each module exports ``CASES``."""
