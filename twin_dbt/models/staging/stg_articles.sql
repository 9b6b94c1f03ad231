{{ stage_documents('raw_articles', prose=true) }}
