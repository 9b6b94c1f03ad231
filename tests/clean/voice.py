"""A daily blog's pieces as a template and their author shape them, written for the project."""

# What the author writes at the start and end of every piece: their voice, kept.
AUTHOR_LINES = ["Hello :) Today is Day 12!", "A quick summary of today:", "That is all for today!", "See you tomorrow :)"]
# What the platform or a signature template adds: removed.
TEMPLATE_LINES = [
    "Subscribe to my newsletter for more",
    "Originally published at https://jane.example.com/day-12",
    "5 min read",
    "© 2024 Jane Doe. All rights reserved.",
    "Follow me on LinkedIn: https://linkedin.com/in/jane",
    "Find me on Twitter @jane",
]


def daily_post(body: str) -> str:
    """One piece as the crawler hands it over: template lines around the author's."""
    return "\n".join([TEMPLATE_LINES[2], *AUTHOR_LINES[:2], body, *AUTHOR_LINES[2:], *TEMPLATE_LINES[:2], *TEMPLATE_LINES[3:]])


def cleaned_daily_post(body: str) -> str:
    return "\n".join([*AUTHOR_LINES[:2], body, *AUTHOR_LINES[2:]])
