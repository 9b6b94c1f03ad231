{{
    config(
        materialized='external',
        plugin='lake',
        lake_layer='clean',
    )
}}

-- The documents fine-tuning and retrieval read: cleaned, long enough, one copy of each piece.
-- Written to $TWIN_HOME/lake/clean/cleaned_documents by the lake plugin (upsert by id, so an
-- unchanged input makes no new Delta version).
with kept as (

    select * from {{ ref('int_documents') }}
    where drop_reason is null

)

select
    id,
    author_id,
    platform,
    category,
    url,
    title,
    text,
    published_at,
    crawled_at,
    content_hash,
    language,
    word_count,
    duplicate_urls,
    metadata
from kept
