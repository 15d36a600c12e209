"""The pipeline, one file per stage, in the order a run goes through them:

    plan.py      prepare(config) -> Plan: method + attack specs, configs, the testbed (testbeds/) and its data,
                 needs, the user's rows; all checks
    session.py   Session: run directory, models on demand, seeding, stage hashes (STAGE_VERSION)
    train.py     one stage's Trainer run (templates, resume, NaN stop)
    align.py     alignment stage        finetune.py  user's fine-tuning      post.py  post-fine-tuning stage
    evaluate.py  metrics and result rows
    run.py       execute(plan, out_dir) / run(config, out_dir)
    results.py   results JSON + Markdown tables
"""

from .plan import PipelineError, Plan, prepare  # noqa: F401
from .results import markdown_table, results_document, write_results  # noqa: F401
from .run import execute, run  # noqa: F401
from . import evaluate  # noqa: F401 - the module (tests patch its EVALUATION_VERSION)
from .session import STAGE_VERSION, is_main_process  # noqa: F401
