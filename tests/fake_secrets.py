"""Credentials of the right shape and no use, assembled at run time so that no secret scanner
flags this repository."""


def private_key() -> str:
    label = "RSA " + "PRIVATE KEY"
    body = "\n".join("MIIEpAIBAAKCAQEA" + "x" * 48 for _ in range(4))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def aws_access_key_id() -> str:
    return "AKIA" + "A" * 16


def github_token() -> str:
    return "ghp" + "_" + "a1B2" * 9


def slack_token() -> str:
    return "xoxb" + "-" + "1234567890-abcdefghij"


def api_key_assignment() -> str:
    return 'API_KEY = "' + "k3yZ" * 8 + '"\n'


SECRETS = {
    "private-key": private_key,
    "aws-key": aws_access_key_id,
    "github-token": github_token,
    "slack-token": slack_token,
    "api-key": api_key_assignment,
}
