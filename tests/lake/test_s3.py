"""The same lake code on s3://, against a local S3-compatible server (moto) on 127.0.0.1."""

import boto3
import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource
from moto.server import ThreadedMotoServer

from tests.lake.test_store import posts
from twin_assets.lake import CLEANED_DOCUMENTS, RAW_POSTS
from twin_assets.resources import LakeResource


@pytest.fixture
def s3_endpoint(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="twin")
    yield endpoint
    server.stop()


def test_upsert_and_time_travel_on_s3(s3_endpoint):
    resource = LakeResource(root="s3://twin/team", s3=S3Resource(endpoint_url=s3_endpoint, region_name="us-east-1"))
    options = resource.storage_options()
    assert options["AWS_ALLOW_HTTP"] == "true" and "AWS_SECRET_ACCESS_KEY" not in options
    lake = resource.lake()
    assert lake.uri(RAW_POSTS) == "s3://twin/team/lake/raw/raw_posts"
    lake.upsert(RAW_POSTS, posts(["a", "b"], "one"))
    result = lake.upsert(RAW_POSTS, posts(["a", "b"], ["two", "one"]))
    assert (result.updated, result.unchanged, result.version) == (1, 1, 1)
    assert lake.read(RAW_POSTS, version=0).sort("id")["content"].to_list() == ["one", "one"]
    assert lake.read(RAW_POSTS).sort("id")["content"].to_list() == ["two", "one"]
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
            .list_objects_v2(Bucket="twin")["Contents"]]
    assert any(k.startswith("team/lake/raw/raw_posts/_delta_log/") for k in keys)


def test_collection_and_cleaning_write_to_s3(s3_endpoint, tmp_path, monkeypatch):
    from tests.test_pipeline import pipeline_resources
    from twin_assets.clean.assets import twin_dbt_models
    from twin_assets.collect.assets import raw_collection

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the local DuckDB warehouse of an s3 lake
    resources = pipeline_resources(tmp_path)
    resources["lake"] = LakeResource(root="s3://twin/demo", s3=S3Resource(endpoint_url=s3_endpoint))
    assert dg.materialize([raw_collection, twin_dbt_models], resources=resources).success
    lake = resources["lake"].lake()
    assert lake.read(RAW_POSTS).height == 14
    assert lake.read(CLEANED_DOCUMENTS).height == 45
    assert lake.uri(CLEANED_DOCUMENTS) == "s3://twin/demo/lake/clean/cleaned_documents"
    assert list((tmp_path / "cache" / "llm-twin").glob("*/warehouse/twin.duckdb"))
