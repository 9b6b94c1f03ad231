{{ stage_documents('raw_repositories', prose=false) }}
