import hashlib


def stable_id(*parts: str) -> str:
    """A key derived from where a row came from, never from when it was loaded.

    The same source always gets the same id, so reruns update rows instead of
    adding new ones.
    """
    joined = "\x1f".join(parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()
