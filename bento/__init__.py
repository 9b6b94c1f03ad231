"""The inference side: the twin served over HTTP (BentoML) and gRPC from one engine. Never imports dagster."""
