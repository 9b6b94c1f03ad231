"""The Dagster code location: the one place that assembles assets, checks, jobs, schedules and resources."""

import os

import dagster as dg
from dagster_aws.s3 import S3Resource
from dagster_dbt import DbtCliResource

from twin_assets.clean.assets import twin_dbt_models, twin_dbt_project
from twin_assets.clean.dbt_cli import dbt_executable
from twin_assets.collect.assets import CrawlerResource, collect_job, daily_collection, raw_collection
from twin_assets.datasets.assets import DatasetResource, instruct_dataset, preference_dataset
from twin_assets.features.assets import EmbeddingResource, VectorIndexResource, document_chunks, vector_index
from twin_assets.automation import retrain_on_new_dataset, train_twin
from twin_assets.models.assets import BaseModelResource, TrainingResource, base_model, twin_model
from twin_assets.models.axolotl import AxolotlResource
from twin_assets.models.evaluation_assets import EvaluationResource, model_evaluation, production_model
from twin_assets.monitoring.assets import (
    MonitoringResource,
    hourly_monitoring,
    monitor_twin,
    prompt_logs,
    prompt_metrics,
    prompt_metrics_alerts,
)
from twin_assets.quality.assets import (
    cleaned_documents_expectations,
    instruct_dataset_expectations,
    preference_dataset_expectations,
    raw_expectations,
)
from twin_assets.resources import LakeResource, TwinConfigResource
from twin_assets.settings import base_model_name, config_path, training_backend, twin_home

defs = dg.Definitions(
    assets=[
        raw_collection, twin_dbt_models, document_chunks, vector_index, base_model, instruct_dataset, preference_dataset,
        twin_model, model_evaluation, production_model, prompt_logs, prompt_metrics,
    ],
    asset_checks=[
        raw_expectations, cleaned_documents_expectations, instruct_dataset_expectations, preference_dataset_expectations,
        prompt_metrics_alerts,
    ],
    jobs=[collect_job, train_twin, monitor_twin],
    # One process per run: a process per step would import the code location (dbt, Great
    # Expectations) again for every step, which doubles a laptop run. Deployments that spread
    # steps over machines set their executor here.
    executor=dg.in_process_executor,
    schedules=[daily_collection, hourly_monitoring],
    sensors=[retrain_on_new_dataset],
    resources={
        "lake": LakeResource(
            root=twin_home(),
            s3=S3Resource(endpoint_url=os.environ.get("AWS_ENDPOINT_URL"), region_name=os.environ.get("AWS_REGION")),
        ),
        "crawler": CrawlerResource(),
        "twin_config": TwinConfigResource(path=config_path()),
        "embedding": EmbeddingResource(),
        "datasets": DatasetResource(),
        "base": BaseModelResource(name=base_model_name()),
        "training": TrainingResource(backend=training_backend()),
        "axolotl": AxolotlResource(),
        "evaluation": EvaluationResource(),
        "index": VectorIndexResource(),
        "monitoring": MonitoringResource(),
        "dbt": DbtCliResource(project_dir=twin_dbt_project, dbt_executable=dbt_executable()),
    },
)
