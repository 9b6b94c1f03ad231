"""The real SmolLM2 base model, converted once per test session.

Its conversion (about 40 s) lands in a TWIN_HOME under the session's temporary root, where the
base_model asset looks for it too: whichever test comes first converts, the others reuse the
saved folder exactly as a second `make run` does.
"""

from pathlib import Path

import pytest

from tests.conftest import lake_resource
from training.base_model import SMOLLM2_135M_INSTRUCT
from twin_assets.models.assets import BaseModelResource
from twin_assets.resources import LakeResource


def smollm2_lake(tmp_path_factory: pytest.TempPathFactory) -> LakeResource:
    return lake_resource(tmp_path_factory.getbasetemp() / "smollm2")


def smollm2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where base_model keeps the converted model in that TWIN_HOME."""
    return Path(BaseModelResource(name=SMOLLM2_135M_INSTRUCT.name).location(smollm2_lake(tmp_path_factory)))
