{#- The `min_words` threshold of a document's category, as a SQL expression. -#}
{% macro min_words_for(category_column) %}
    case {{ category_column }}
    {%- for category, words in var('min_words').items() %}
        when '{{ category }}' then {{ words }}
    {%- endfor %}
        else 1
    end
{% endmacro %}
