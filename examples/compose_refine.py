"""Refine a draft until a deterministic check passes; feedback goes into the next prompt.

Offline: `python examples/compose_refine.py`.
"""

from __future__ import annotations

import stratum
from stratum import Budget, ConvergenceFailure, contract, infer, refine
from stratum.testing import ScriptedModel, use_model


@contract
class Headline:
    text: str


def problems(h: Headline) -> list[str]:
    found: list[str] = []
    if len(h.text) > 40:
        found.append(f"the headline has {len(h.text)} characters; keep it under 40")
    if h.text.endswith("!"):
        found.append("drop the exclamation mark")
    return found


@refine(until=lambda h: not problems(h), feedback=problems, max_iterations=3)
@infer("Write a headline for the article", max_tokens=60, budget=Budget(tokens=5_000))
def headline(article: str) -> Headline: ...


def main() -> None:
    model = ScriptedModel([
        {"text": "Local bakery wins the national award for the very best sourdough bread!"},
        {"text": "Bakery wins national sourdough award!"},
        {"text": "Bakery wins national sourdough award"},
    ])
    with use_model(model):
        result = stratum.run(headline(article="..."))
    print("result:", result.text)
    print("feedback sent in iteration 3:")
    print("  " + model.requests[2].instructions.split("\n\n")[-1].replace("\n", "\n  "))
    with use_model(ScriptedModel([{"text": "Way too long a headline for anyone to read, honestly!"}] * 3)):
        try:
            stratum.run(headline(article="..."))
        except ConvergenceFailure as exc:
            print(f"gave up after {len(exc.history)} iterations")


if __name__ == "__main__":
    main()
