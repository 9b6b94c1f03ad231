-- Every staged document with its cleaning decision: kept, or dropped with a reason.
with documents as (

    select * from {{ ref('stg_articles') }}
    union all by name
    select * from {{ ref('stg_posts') }}
    union all by name
    select * from {{ ref('stg_repositories') }}

),

edge_lines as (

    select id, author_id, platform, unnest(edge_lines(text)) as line
    from documents
    where category in ('article', 'post')

),

repeated_lines as (

    select author_id, platform, list(line order by line) as lines
    from (
        select author_id, platform, line
        from edge_lines
        group by author_id, platform, line
        having count(distinct id) >= {{ var('repeated_line_min_documents') }}
    )
    group by author_id, platform

),

untemplated as (

    -- Of the lines an author repeats at the start or end of pieces, only contact and profile lines
    -- (a signature template's) go: repeated greetings and sign-offs are the author's voice and stay.
    select
        documents.* replace (
            case
                when documents.category in ('article', 'post') then remove_repeated_edge_lines(documents.text, repeated_lines.lines)
                else documents.text
            end as text
        )
    from documents
    left join repeated_lines using (author_id, platform)

),

measured as (

    select
        *,
        word_count(text) as word_count,
        sha256(text) as content_hash,
        row_number() over (
            partition by author_id
            order by
                published_at asc nulls last,
                coalesce(list_position({{ var('platform_preference') }}, platform), 99),
                id
        ) as preference
    from untemplated

),

long_enough as (

    select *
    from measured
    where word_count >= {{ min_words_for('category') }}

),

fingerprints as (

    select id, author_id, unnest(fingerprints) as fingerprint
    from long_enough

),

candidate_pairs as (

    -- near copies share many sketch values; pieces that merely share a stock phrase share one or two
    select left_side.id as left_id, right_side.id as right_id
    from fingerprints as left_side
    inner join fingerprints as right_side
        on left_side.author_id = right_side.author_id
        and left_side.fingerprint = right_side.fingerprint
        and left_side.id < right_side.id
    group by left_side.id, right_side.id
    having count(*) >= {{ var('cross_post_min_shared_fingerprints') }}

    union

    -- exact copies of any category, e.g. the same file in two repositories
    select left_side.id, right_side.id
    from long_enough as left_side
    inner join long_enough as right_side
        on left_side.author_id = right_side.author_id
        and left_side.content_hash = right_side.content_hash
        and left_side.id < right_side.id

),

duplicate_pairs as (

    select
        case when left_doc.preference < right_doc.preference then left_doc.id else right_doc.id end as keeper_id,
        case when left_doc.preference < right_doc.preference then right_doc.id else left_doc.id end as copy_id,
        least(left_doc.preference, right_doc.preference) as keeper_preference
    from candidate_pairs
    inner join long_enough as left_doc on left_doc.id = candidate_pairs.left_id
    inner join long_enough as right_doc on right_doc.id = candidate_pairs.right_id
    where left_doc.content_hash = right_doc.content_hash
        or text_similarity(left_doc.text, right_doc.text) >= {{ var('cross_post_min_similarity') }}

),

closest_keepers as (

    -- a piece cross-posted three times is kept once, under its most preferred copy
    select copy_id as id, arg_min(keeper_id, keeper_preference) as duplicate_of
    from duplicate_pairs
    group by copy_id

),

copies as (

    -- A ~ B and B ~ C but not A ~ C: C follows B to A rather than to a copy that is itself dropped
    select closest_keepers.id, coalesce(keepers_keeper.duplicate_of, closest_keepers.duplicate_of) as duplicate_of
    from closest_keepers
    left join closest_keepers as keepers_keeper on keepers_keeper.id = closest_keepers.duplicate_of

),

copy_urls as (

    select copies.duplicate_of as id, list(measured.url order by measured.url) as duplicate_urls
    from copies
    inner join measured using (id)
    group by copies.duplicate_of

)

select
    measured.* exclude (preference, fingerprints, raw_content_hash, cleaning_version),
    coalesce(copy_urls.duplicate_urls, []::varchar[]) as duplicate_urls,
    copies.duplicate_of,
    case
        when measured.word_count < {{ min_words_for('measured.category') }} then 'too_short'
        when copies.duplicate_of is not null then 'cross_posted_duplicate'
    end as drop_reason
from measured
left join copies using (id)
left join copy_urls using (id)
