{{ stage_documents('raw_posts', prose=true) }}
