"""The run-time error every layer may raise (the pipeline, a method's Trainer): a run that cannot go on."""


class PipelineError(RuntimeError):
    """A run that cannot go on (bad method config, too little data, a NaN loss...): one clear line."""
