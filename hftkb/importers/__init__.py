"""Importers: turn outside sources (arXiv, BibTeX, the companion awesome list) into paper records."""
