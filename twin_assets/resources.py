"""Resources every stage shares: the lake and the twin config."""


from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource

from twin_assets.lake import Lake, TableSpec
from twin_assets.settings import TwinConfig, load_config, local_state_dir


class LakeResource(dg.ConfigurableResource):
    """Delta tables under `root` (TWIN_HOME): a local directory, or s3://bucket/prefix with `s3` settings."""

    root: str
    s3: S3Resource

    def storage_options(self) -> dict[str, str]:
        """Where and how to reach S3. Credentials stay in the environment (AWS_ACCESS_KEY_ID, ...),
        where deltalake reads them, so they never enter run config or metadata."""
        if not self.root.startswith("s3://"):
            return {}
        options = {"AWS_ENDPOINT_URL": self.s3.endpoint_url, "AWS_REGION": self.s3.region_name or "us-east-1"}
        if self.s3.endpoint_url and self.s3.endpoint_url.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
        return {k: v for k, v in options.items() if v}

    def lake(self) -> Lake:
        return Lake(self.root, self.storage_options())

    def table_uri(self, spec: TableSpec) -> str:
        return self.lake().uri(spec)

    def local_dir(self, name: str) -> Path:
        """A folder on local disk for state beside the lake: the DuckDB warehouse, Data Docs."""
        return local_state_dir(self.root) / name

    def environment(self) -> dict[str, str]:
        """What a subprocess (dbt) needs to find the lake: the root, the warehouse, the S3 endpoint.
        Credentials are not here; the subprocess inherits them from the environment."""
        return {"TWIN_HOME": self.root, "TWIN_WAREHOUSE": str(self.local_dir("warehouse")), **self.storage_options()}


class TwinConfigResource(dg.ConfigurableResource):
    """The authors and their sources (twin.yaml, or the file TWIN_CONFIG names)."""

    path: str

    def load(self) -> TwinConfig:
        return load_config(self.path)
