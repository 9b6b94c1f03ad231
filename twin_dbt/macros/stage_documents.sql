{#-
  The staging rules every raw document table shares. Staged rows are kept between runs: only
  raw rows that are new, whose content changed, or that were cleaned by other rules
  (cleaning_version) go through the Python functions again, and rows gone from the raw table
  leave. The functions come from the lake plugin (twin_assets/clean/functions.py).
-#}
{% macro stage_documents(raw_table, prose) %}
{{ config(
    materialized='incremental',
    unique_key='id',
    incremental_strategy='delete+insert',
    post_hook="delete from {{ this }} where id not in (select id from {{ source('raw', '" ~ raw_table ~ "') }})",
) }}

with source as (

    select * from {{ source('raw', raw_table) }}

),

changed as (

    select source.*
    from source
    {% if is_incremental() %}
    left join {{ this }} as staged
        on staged.id = source.id
        and staged.raw_content_hash = source.content_hash
        and staged.cleaning_version = cleaning_version()
    where staged.id is null
    {% endif %}

),

cleaned as (

    select
        id,
        author_id,
        platform,
        category,
        strip_tracking(url) as url,
        nullif(trim(plain_letters(title)), '') as title,
        clean_text(content, category) as text,
        published_at,
        crawled_at,
        metadata,
        content_hash as raw_content_hash
    from changed

),

measured as (

    select
        *,
        {% if prose %}
        detect_language(text) as language,
        shingle_sketch(text) as fingerprints,
        {% else %}
        null::varchar as language,
        null::bigint[] as fingerprints,
        {% endif %}
        cleaning_version() as cleaning_version
    from cleaned

)

select * from measured
{% endmacro %}
