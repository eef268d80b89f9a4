"""The core runtime: one `@infer` call from its declaration to its trace record.

Layers, bottom up: `model` (the provider seam's types), `contracts`, `checks`, `prompt`,
`budget`, `context`, `config`, `routing`, `spec`, `recording`, `attempts` (reserve → send →
settle → judge), `call` (the only way into an attempt), `flows`, `decorators`. Private: the
public door is `stratum`.
"""
