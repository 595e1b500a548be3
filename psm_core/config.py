"""Settings for a PSM instance (environment prefix ``PSM_``), read once when constructed.

``PSMSettings()`` reads the environment at that moment; ``PSMSettings(home=...)`` overrides in code.
Nothing reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PSMSettings"]


class PSMSettings(BaseSettings):
    """Configuration of one :class:`~psm_core.PSM`.

    | setting | env | default | meaning |
    |---|---|---|---|
    | home | PSM_HOME | ~/.psm | directory of the embedded store, logs and caches |
    | chroma_url | PSM_CHROMA_URL | None | Chroma server URL (e.g. http://localhost:8000); switches to HttpClient |
    | chroma_host / chroma_port | PSM_CHROMA_HOST / PSM_CHROMA_PORT | None / 8000 | server address, alternative to the URL |
    | embedder | PSM_EMBEDDER | all-MiniLM-L6-v2 | model name or local path of a sentence-transformers model |
    | embedder_backend | PSM_EMBEDDER_BACKEND | onnx | onnx (fast, exported once to home/models) or torch |
    | model_cache | PSM_MODEL_CACHE | ~/.cache/psm | where the ONNX export of the embedder is kept |
    | skill | PSM_SKILL | mini | memory skill: mini (trained PSM-mini), baseline (heuristics) or a weights dir |
    | max_text_bytes | PSM_MAX_TEXT_BYTES | 65536 | largest text accepted by observe/remember (UTF-8 bytes) |
    | working_window | PSM_WORKING_WINDOW | 20 | turns kept in working memory per session |
    | sensory_window | PSM_SENSORY_WINDOW | 64 | raw events kept in the sensory buffer |
    | exact_search_max | PSM_EXACT_SEARCH_MAX | 50000 | up to this many records per user, recall searches vectors exactly in process; beyond, through Chroma's HNSW index |
    | rerank | PSM_RERANK | 0 | recall rescores its best N candidates with the cross-encoder (``psm_core.rerank``; ~10 ms a candidate on 2 cores); 0: off |
    | reranker | PSM_RERANKER | None | the reranker adapter file (default: the shipped one) |
    | statement_facts | PSM_STATEMENT_FACTS | true | a personal statement becomes a semantic fact when observed (``psm_core.facts``): updates, duplicates, corrections and contradictions are decided then |
    | database_url | PSM_DATABASE_URL | None | PostgreSQL URL (e.g. postgresql://psm@127.0.0.1:5432/psm) of the coordination state many processes share: job queue, pass journal, review and feedback logs, revisions (extra ``postgres``); unset: SQLite files under home |
    """

    model_config = SettingsConfigDict(env_prefix="PSM_", frozen=True, extra="forbid")

    home: Path = Field(default_factory=lambda: Path("~/.psm"))
    chroma_url: str | None = None
    chroma_host: str | None = None
    chroma_port: int = Field(default=8000, ge=1, le=65535)
    model_cache: Path = Field(default_factory=lambda: Path("~/.cache/psm"))
    embedder: str = "all-MiniLM-L6-v2"
    embedder_backend: Literal["onnx", "torch"] = "onnx"
    skill: str = "mini"
    max_text_bytes: int = Field(default=65536, ge=16)
    working_window: int = Field(default=20, ge=1)
    sensory_window: int = Field(default=64, ge=1)
    exact_search_max: int = Field(default=50_000, ge=0)
    rerank: int = Field(default=0, ge=0, le=200)
    reranker: Path | None = None
    statement_facts: bool = True
    database_url: str | None = None

    @field_validator("home", "model_cache")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return Path(v).expanduser()

    @field_validator("reranker")
    @classmethod
    def _expand_optional(cls, v: Path | None) -> Path | None:
        return Path(v).expanduser() if v is not None else None

    @field_validator("chroma_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        parsed = urlparse(v)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"PSM_CHROMA_URL {v!r} must look like http://host:port")
        return v

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str | None) -> str | None:
        if v is None or v.strip() == "":
            return None
        parsed = urlparse(v)
        if parsed.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"PSM_DATABASE_URL must look like postgresql://user@host:5432/dbname, got scheme {parsed.scheme!r}")
        return v

    @model_validator(mode="after")
    def _one_address(self) -> PSMSettings:
        if self.chroma_url and self.chroma_host:
            raise ValueError("set PSM_CHROMA_URL or PSM_CHROMA_HOST, not both")
        return self

    @property
    def server(self) -> tuple[str, int, bool] | None:
        """(host, port, ssl) of the Chroma server, or None for the embedded store."""
        if self.chroma_url:
            p = urlparse(self.chroma_url)
            ssl = p.scheme == "https"
            return str(p.hostname), p.port or (443 if ssl else 8000), ssl
        if self.chroma_host:
            return self.chroma_host, self.chroma_port, False
        return None
