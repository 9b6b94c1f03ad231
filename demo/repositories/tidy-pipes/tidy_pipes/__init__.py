"""Small, dependable helpers for data pipelines."""

from tidy_pipes.contracts import Contract, ContractViolation
from tidy_pipes.ids import stable_id
from tidy_pipes.upsert import upsert

__all__ = ["Contract", "ContractViolation", "stable_id", "upsert"]
