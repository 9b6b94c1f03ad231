-- Before and after any backfill: one row per day, so gaps and doubles stand out.
select
    cast(created_at as date) as day,
    count(*) as row_count,
    count(distinct order_id) as distinct_orders
from orders
group by 1
order by 1;
