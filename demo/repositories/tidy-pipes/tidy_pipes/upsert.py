import hashlib
import json


def _content_hash(row):
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()


def upsert(existing, incoming, key):
    """Merge incoming rows into existing ones by key.

    Returns the merged rows and how many were inserted, updated and left alone.
    Unchanged rows are detected by content hash and not touched, so a rerun with
    nothing new changes nothing.
    """
    merged = {row[key]: row for row in existing}
    inserted = updated = unchanged = 0
    for row in incoming:
        current = merged.get(row[key])
        if current is None:
            inserted += 1
        elif _content_hash(current) == _content_hash(row):
            unchanged += 1
            continue
        else:
            updated += 1
        merged[row[key]] = row
    return list(merged.values()), {"inserted": inserted, "updated": updated, "unchanged": unchanged}
