"""``embedding``: how close an answer is to the expected answer in meaning, as a cosine similarity.

Why two backends:

* ``hashing`` (the default) works offline, with nothing to download and nothing to fit: scikit-learn's
  ``HashingVectorizer`` over character 3-5-grams inside word boundaries (``char_wb``), so inflections
  and typos still overlap ("refunded" / "refund"). Vectors are non-negative and L2-normalised, so
  the cosine is already in [0, 1]. It is lexical: a paraphrase that shares no word stems scores low,
  which is why it suits answers close to a reference (a resolution note, a short summary), not free
  prose.
* ``sentence-transformers`` with ``model:`` (a name or a local folder) embeds meaning. The package is
  imported, and the model loaded, when the scenario is built (so a missing package or model is an
  error naming ``graders[i]`` before anything runs); loading may download the model, as that library
  does, unless ``HF_HUB_OFFLINE=1``.

``threshold`` turns the similarity into a verdict: 1 at or above it, else 0. scikit-learn is imported
when the grader is built, never at package import.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from workbench.graders.base import Grader, GraderParams, register

__all__ = ["Embedding"]

_ST = "sentence-transformers"


class _Hashing:
    """Character 3-5-gram hashing vectors; stateless, so nothing is fitted or stored."""

    def __init__(self) -> None:
        from sklearn import config_context
        from sklearn.feature_extraction.text import HashingVectorizer

        self._config = config_context
        self._vec = HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), alternate_sign=False,
                                      norm="l2", strip_accents="unicode")

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of ``a`` and ``b`` (0 when either has no 3-gram)."""
        with self._config(assume_finite=True, skip_parameter_validation=True):
            rows = self._vec.transform([a, b])
        return float(rows[0].multiply(rows[1]).sum())


class _SentenceTransformer:
    """A sentence-transformers model; normalised embeddings, so the dot product is the cosine."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of the two texts' embeddings."""
        emb = self._model.encode([a, b], normalize_embeddings=True)
        return float((emb[0] * emb[1]).sum())


@register
class Embedding(Grader):
    """Cosine similarity of the answer to the expected answer, clipped to [0, 1] (or 0/1 by ``threshold``)."""

    name = "embedding"

    params: Params  # the validated params: this class's own, not the base GraderParams

    class Params(GraderParams):
        """``backend``: ``hashing`` (offline) or ``sentence-transformers`` with ``model``; ``threshold``."""

        backend: Literal["hashing", "sentence-transformers"] = "hashing"
        model: Annotated[str, Field(min_length=1)] | None = Field(default=None, validate_default=True)
        threshold: Annotated[float, Field(ge=0, le=1)] | None = None

        @field_validator("model")
        @classmethod
        def _model_fits_backend(cls, model: str | None, info: ValidationInfo) -> str | None:
            backend = info.data.get("backend")
            if backend == _ST and model is None:
                raise ValueError(f"backend '{_ST}' needs model: (a model name or folder)")
            if backend == "hashing" and model is not None:
                raise ValueError(f"model applies to backend '{_ST}' only (backend is 'hashing')")
            return model

    def __init__(self, params: GraderParams):
        super().__init__(params)
        self._backend: Any = _Hashing() if self.params.backend == "hashing" else None

    def bind(self, scenario, loc):
        if self.params.backend == _ST:
            self._backend = _SentenceTransformer(_load_sentence_transformer(scenario, loc, self.params.model))

    def score(self, req, text, provider_score):
        if req.expected is None or text is None:
            return None
        sim = min(1.0, max(0.0, self._backend.similarity(text, req.expected)))
        if self.params.threshold is not None:
            return 1.0 if sim >= self.params.threshold else 0.0
        return sim


def _load_sentence_transformer(scenario, loc: tuple, model: str) -> Any:
    """The loaded model; a ScenarioError at the grader's params if the package or the model is missing."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise scenario.error_at((*loc, "params", "backend"), f"backend '{_ST}' needs the sentence-transformers "
                                "package, which is not installed (pip install sentence-transformers)") from None
    try:
        return SentenceTransformer(model)
    except (OSError, ValueError) as exc:
        raise scenario.error_at((*loc, "params", "model"), f"cannot load model '{model}': {exc}") from None
