"""How counts read in what users see: "1 episode", "3 episodes"."""


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`count` and the noun in the right number; `nouns` for an irregular plural."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
