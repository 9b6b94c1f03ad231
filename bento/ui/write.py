"""The Write page: ask the twin for a draft and watch it being written, see what it drew on,
then regenerate it, edit and accept it (the edit becomes training data), or turn it down.

The page is a form; `static/write.js` sends it to `/generate` as a stream (server-sent events,
read from the `fetch` response body) and posts the author's verdict to `/feedback`. Both go
to the service's own API on the same origin, so the sign-in cookie carries the key.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from bento.schemas import MAX_LINKS, MAX_PROMPT_CHARS
from bento.ui import render

router = APIRouter()

# (value sent as `category`, what a writer calls it); "" asks for no filter.
KINDS = (("post", "LinkedIn post"), ("article", "Article section"), ("repository", "Code"), ("", "Anything"))
# (max_new_tokens, label)
LENGTHS = ((120, "Short"), (250, "Medium"), (500, "Long"))


@router.get("/write", include_in_schema=False)
def write_page(request: Request):
    return render(request, "write.html", kinds=KINDS, lengths=LENGTHS, default_length=250,
                  max_prompt_chars=MAX_PROMPT_CHARS, max_links=MAX_LINKS)
