{{ stage_documents('raw_posts') }}
