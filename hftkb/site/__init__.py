"""Building the website from the records (MkDocs + Material; hooks in `hftkb.site.hooks`).

Modules: `generate` (everything generated, once per build), `context` (page locations and links), `escape`
(every record string goes through it), one module per kind of page (`paper_page`, `term_pages`, `faq_pages`,
`implementations`), `tables` (sortable/filterable paper tables), `timeline` (SVG), `graph` (networkx -> JSON),
`downloads` (JSON, CSV, BibTeX, schema, Atom), `fragments` (blocks inside hand-written pages), `synthetic`
(fabricated knowledge bases for tests and the bench). Nothing here imports torch.
"""
