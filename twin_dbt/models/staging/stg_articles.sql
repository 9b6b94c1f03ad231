{{ stage_documents('raw_articles') }}
