{{ stage_documents('raw_repositories') }}
