-- When a rerun was not idempotent: which keys appear more than once, and how often.
with counted as (
    select
        order_id,
        count(*) as copies
    from orders
    group by order_id
)

select *
from counted
where copies > 1
order by copies desc;
