"""hftkb: the harmful fine-tuning knowledge base (records, validation, site build, contribution tools).

This package never imports torch: validating records and building the site work without it.
"""

__version__ = "0.1.0"
