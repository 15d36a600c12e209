"""Moved to the `reference_impl.pipeline` package (one file per stage); this name stays importable."""

from ..pipeline import (  # noqa: F401
    STAGE_VERSION,
    PipelineError,
    Plan,
    execute,
    is_main_process,
    markdown_table,
    prepare,
    results_document,
    run,
    write_results,
)
