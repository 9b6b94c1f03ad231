-- What cleaning left out and why, so nothing disappears silently.
with dropped as (

    select * from {{ ref('int_documents') }}
    where drop_reason is not null

)

select
    id,
    author_id,
    platform,
    category,
    url,
    title,
    word_count,
    drop_reason,
    duplicate_of
from dropped
