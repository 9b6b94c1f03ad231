{#- The staging rules every raw document table shares; the cleaning functions come from the lake plugin. -#}
{% macro stage_documents(raw_table) %}
with source as (

    select * from {{ source('raw', raw_table) }}

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
        metadata
    from source

)

select * from cleaned
{% endmacro %}
